// Where a program runs: the --device choices and their resolution to a torch::Device.
#pragma once

#include <torch/script.h>

#include <string>
#include <string_view>

namespace tvdeploy {

// The same names as tvdeploy.registry.DEVICE_CHOICES (checked by tests/cpp/test_cpp_cli.py).
inline constexpr std::string_view kDeviceChoices = "cpu|cuda|auto";

// The device for a --device value; DeviceError if it names a device that is not there.
torch::Device choose_device(const std::string& requested);

// "cuda" or "cpu": the device's kind as reports name it.
std::string device_string(const torch::Device& device);

}  // namespace tvdeploy
