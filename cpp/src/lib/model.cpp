#include "tvdeploy/model.hpp"

namespace tvdeploy {

void check_transform(const std::string& transform) {
  if (transform != kTransformNone && transform != kTransformOptimize) {
    throw UsageError("option --transform must be one of " + std::string(kTransformChoices) +
                     ", got '" + transform + "'");
  }
}

torch::jit::Module load_model(const fs::path& path, const torch::Device& device,
                              const std::string& transform) {
  check_transform(transform);
  if (!fs::is_regular_file(path)) {
    throw InputError("model " + quoted(path) + " does not exist or is not a regular file");
  }
  try {
    torch::jit::Module module = torch::jit::load(path.string(), device);
    module.eval();
    if (transform == kTransformOptimize) {
      module = torch::jit::optimize_for_inference(module);
    }
    return module;
  } catch (const c10::Error& e) {
    throw InputError("cannot load TorchScript model " + quoted(path) + ": " +
                     e.what_without_backtrace());
  }
}

torch::Tensor require_logits(const c10::IValue& output, std::int64_t batch, const fs::path& model) {
  if (!output.isTensor()) {
    throw InputError("model " + quoted(model) + " returned a " + output.tagKind() +
                     ", expected a single Tensor of logits with shape [N, C]");
  }
  torch::Tensor logits = output.toTensor();
  if (logits.dim() != 2 || logits.size(0) != batch) {
    throw InputError("model " + quoted(model) + " returned a tensor of shape " +
                     c10::str(logits.sizes()) + ", expected [" + std::to_string(batch) + ", C]");
  }
  return logits;
}

}  // namespace tvdeploy
