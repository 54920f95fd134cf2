#include "tvdeploy/device.hpp"

#include <torch/cuda.h>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

torch::Device choose_device(const std::string& requested) {
  if (requested == "cpu") return torch::Device(torch::kCPU);
  if (requested == "cuda") {
    if (!torch::cuda::is_available()) {
      throw DeviceError("device 'cuda' requested but no CUDA device is available");
    }
    return torch::Device(torch::kCUDA);
  }
  if (requested == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  }
  throw UsageError("option --device must be one of " + std::string(kDeviceChoices) + ", got '" +
                   requested + "'");
}

std::string device_string(const torch::Device& device) { return device.is_cuda() ? "cuda" : "cpu"; }

}  // namespace tvdeploy
