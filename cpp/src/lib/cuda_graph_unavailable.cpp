// replay_as_cuda_graphs for a LibTorch built without CUDA (see CMakeLists.txt).
#include "tvdeploy/model.hpp"

namespace tvdeploy {

std::unique_ptr<DeployedModel> replay_as_cuda_graphs(std::unique_ptr<DeployedModel> /*inner*/,
                                                     const torch::Device& device) {
  throw UsageError("option --transform " + std::string(kTransformCudaGraph) +
                   " needs a LibTorch built with CUDA (this one is CPU only; device " +
                   device.str() + ")");
}

}  // namespace tvdeploy
