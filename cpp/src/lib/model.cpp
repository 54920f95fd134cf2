#include "tvdeploy/model.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/codegen/onednn/interface.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <iterator>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tvdeploy/torchvision_ops.hpp"

namespace tvdeploy {

void check_transform(const std::string& transform) {
  if (transform != kTransformNone && transform != kTransformOptimize &&
      transform != kTransformFuse && transform != kTransformCudaGraph) {
    throw UsageError("option --transform must be one of " + std::string(kTransformChoices) +
                     ", got '" + transform + "'");
  }
}

OptionSpec inference_precision_option() {
  return {"inference-precision", std::string(kInferencePrecisionChoices),
          "the precision OpenVINO compiles an IR for (OpenVINO IR only)", false,
          std::string(kInferencePrecisionF32)};
}

namespace {

void check_inference_precision(const std::string& precision) {
  for (const std::string_view choice : {"f32", "bf16", "f16"}) {
    if (precision == choice) return;
  }
  throw UsageError("option --inference-precision must be one of " +
                   std::string(kInferencePrecisionChoices) + ", got '" + precision + "'");
}

class TorchScriptModel final : public DeployedModel {
 public:
  TorchScriptModel(torch::jit::Module module, bool fused)
      : module_(std::move(module)), fused_(fused) {}

  // The inputs are forward's positional arguments.
  c10::IValue forward(const std::vector<torch::Tensor>& inputs) override {
    std::vector<c10::IValue> arguments(inputs.begin(), inputs.end());
    if (fused_ && profiled_shapes_.insert(shapes_of(inputs)).second) {
      const std::size_t profiling_calls = torch::jit::getNumProfiledRuns();
      for (std::size_t call = 0; call < profiling_calls; ++call) {
        module_.forward(arguments);
      }
    }
    return module_.forward(std::move(arguments));
  }

  std::string format() const override { return "torchscript"; }

  std::optional<std::int64_t> fusion_groups() const override {
    if (!fused_) return std::nullopt;
    const std::shared_ptr<torch::jit::Graph> graph = torch::jit::lastExecutedOptimizedGraph();
    if (!graph) return 0;
    return static_cast<std::int64_t>(
        torch::jit::findAllNodes(*graph, c10::prim::oneDNNFusionGroup, /*recurse=*/true).size());
  }

 private:
  torch::jit::Module module_;
  bool fused_;
  std::set<InputShapes> profiled_shapes_;
};

class AotiModel final : public DeployedModel {
 public:
  // single_threaded: without the model container's synchronisation between runs, which
  // queries an event at each run and so fails inside a CUDA graph capture ("operation not
  // permitted when stream is capturing"); AOTInductor's own advice for CUDA graphs.
  AotiModel(const fs::path& path, const torch::Device& device, bool single_threaded)
      : loader_(path.string(), "model", single_threaded, /*num_runners=*/1,
                device.has_index() ? device.index() : -1) {}

  // The package's (flattened) outputs: one Tensor, else a Tuple of them.
  c10::IValue forward(const std::vector<torch::Tensor>& inputs) override {
    std::vector<at::Tensor> outputs = loader_.run(inputs);
    if (outputs.size() == 1) return std::move(outputs.front());
    return c10::ivalue::Tuple::create(std::vector<c10::IValue>(
        std::make_move_iterator(outputs.begin()), std::make_move_iterator(outputs.end())));
  }

  std::string format() const override { return "aoti"; }

 private:
  torch::inductor::AOTIModelPackageLoader loader_;
};

}  // namespace

InputShapes shapes_of(const std::vector<torch::Tensor>& inputs) {
  InputShapes shapes;
  shapes.reserve(inputs.size());
  for (const torch::Tensor& input : inputs) shapes.push_back(input.sizes().vec());
  return shapes;
}

std::string describe_inputs(const std::vector<fs::path>& inputs) {
  std::string text = inputs.size() == 1 ? "input " : "inputs ";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (i > 0) text += ", ";
    text += quoted(inputs[i]);
  }
  return text;
}

std::unique_ptr<DeployedModel> load_model(const fs::path& path, const torch::Device& device,
                                          const std::string& transform,
                                          const std::string& inference_precision) {
  check_transform(transform);
  check_inference_precision(inference_precision);
  if (!fs::is_regular_file(path)) {
    throw InputError("model " + quoted(path) + " does not exist or is not a regular file");
  }
  if (path.extension() == kOpenVinoExtension) {
    if (transform != kTransformNone) {
      throw UsageError("option --transform " + transform +
                       " applies to TorchScript only, not to the OpenVINO IR " + quoted(path));
    }
    return load_openvino_model(path, device, at::get_num_threads(), inference_precision);
  }
  if (inference_precision != kInferencePrecisionF32) {
    throw UsageError("option --inference-precision " + inference_precision +
                     " applies to OpenVINO IR only, not to " + quoted(path) +
                     " (a LibTorch deployment's precision is its artifact's)");
  }
  const bool cuda_graph = transform == kTransformCudaGraph;
  if (path.extension() == kAotiPackageExtension) {
    if (transform != kTransformNone && !cuda_graph) {
      throw UsageError("option --transform " + transform +
                       " applies to TorchScript only, not to the AOTInductor package " +
                       quoted(path));
    }
    std::unique_ptr<DeployedModel> package;
    try {
      package = std::make_unique<AotiModel>(path, device, /*single_threaded=*/cuda_graph);
    } catch (const c10::Error& e) {
      throw InputError("cannot load AOTInductor package " + quoted(path) + ": " +
                       e.what_without_backtrace());
    } catch (const std::runtime_error& e) {
      throw InputError("cannot load AOTInductor package " + quoted(path) + ": " + e.what());
    }
    return cuda_graph ? replay_as_cuda_graphs(std::move(package), device) : std::move(package);
  }
  try {
    torch::jit::Module module = torch::jit::load(path.string(), device);
    module.eval();
    if (transform == kTransformOptimize) {
      module = torch::jit::optimize_for_inference(module);
    }
    const bool fused = transform == kTransformFuse;
    if (fused) {
      if (!device.is_cpu()) {
        throw UsageError("option --transform " + transform + " runs on the CPU only");
      }
      torch::jit::RegisterLlgaFuseGraph::setEnabled(true);
    }
    auto scripted = std::make_unique<TorchScriptModel>(std::move(module), fused);
    if (cuda_graph) return replay_as_cuda_graphs(std::move(scripted), device);
    return scripted;
  } catch (const UsageError&) {
    throw;
  } catch (const c10::Error& e) {
    throw InputError("cannot load TorchScript model " + quoted(path) + ": " +
                     e.what_without_backtrace() + torchvision_ops_hint(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    // The TorchScript compiler's errors (an unknown operator among them) are no c10::Error.
    throw InputError("cannot load TorchScript model " + quoted(path) + ": " + e.what() +
                     torchvision_ops_hint(e.what()));
  }
}

}  // namespace tvdeploy
