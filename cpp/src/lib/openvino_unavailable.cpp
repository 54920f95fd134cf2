// load_openvino_model for programs built without OpenVINO (TVDEPLOY_WITH_OPENVINO=OFF,
// chosen by src/tvdeploy/build/cpp.py where the openvino package is not installed).
#include "tvdeploy/model.hpp"

namespace tvdeploy {

std::unique_ptr<DeployedModel> load_openvino_model(const fs::path& path,
                                                   const torch::Device& /*device*/, int /*threads*/,
                                                   const std::string& /*inference_precision*/) {
  throw UsageError("cannot run the OpenVINO IR " + quoted(path) +
                   ": these programs were built without OpenVINO (the Python package 'openvino' "
                   "was not installed); pip install openvino and rebuild");
}

}  // namespace tvdeploy
