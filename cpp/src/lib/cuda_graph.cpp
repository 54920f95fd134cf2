// CUDA graph replay of a loaded model, PyTorch's recipe (torch.cuda.graphs) in C++: a few
// forwards on a side stream so lazy work (the profiling executor's optimisation, cuDNN's
// algorithm choice, AOTInductor's constant folding) happens before the capture; then one capture
// per tuple of input shapes, every input a static tensor. Built only against a CUDA LibTorch (see
// CMakeLists.txt); cuda_graph_unavailable.cpp otherwise.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>

#include <cstddef>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "tvdeploy/model.hpp"

namespace tvdeploy {

namespace {

// The profiling executor profiles one call by default, then optimises; a third call runs the
// optimised graph once more, so nothing is left to compile inside the capture.
constexpr int kWarmupCallsBeforeCapture = 3;

struct Captured {
  at::cuda::CUDAGraph graph;
  std::vector<torch::Tensor> static_inputs;
  c10::IValue static_output;  // a Tensor or a Tuple of them, written by each replay
};

// A copy of a captured output (a Tensor, or a Tuple of outputs), which the next replay would
// overwrite; UsageError for any other output, which a capture cannot replay.
c10::IValue copy_output(const c10::IValue& output) {
  if (output.isTensor()) return output.toTensor().clone();
  if (output.isTuple()) {
    std::vector<c10::IValue> elements;
    for (const c10::IValue& element : output.toTupleRef().elements()) {
      elements.push_back(copy_output(element));
    }
    return c10::ivalue::Tuple::create(std::move(elements));
  }
  throw UsageError("option --transform " + std::string(kTransformCudaGraph) +
                   " replays models returning a Tensor or a Tuple of them; this one returned a " +
                   output.tagKind());
}

class CudaGraphModel final : public DeployedModel {
 public:
  explicit CudaGraphModel(std::unique_ptr<DeployedModel> inner) : inner_(std::move(inner)) {}

  c10::IValue forward(const std::vector<torch::Tensor>& inputs) override {
    if (inputs.empty()) {
      throw UsageError("CUDA graph replay got no inputs to capture");
    }
    for (const torch::Tensor& input : inputs) {
      if (!input.is_cuda()) {
        throw UsageError("CUDA graph replay got an input on " + c10::str(input.device()) +
                         "; move it to the GPU first");
      }
    }
    InputShapes shapes = shapes_of(inputs);
    auto found = captured_.find(shapes);
    if (found == captured_.end()) {
      found = captured_.emplace(std::move(shapes), capture(inputs)).first;
    }
    Captured& graph = *found->second;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      graph.static_inputs[i].copy_(inputs[i]);
    }
    graph.graph.replay();
    // The next replay overwrites the static output.
    return copy_output(graph.static_output);
  }

  std::string format() const override { return inner_->format(); }
  std::optional<std::int64_t> fusion_groups() const override { return inner_->fusion_groups(); }
  std::optional<std::int64_t> cuda_graph_captures() const override {
    return static_cast<std::int64_t>(captured_.size());
  }

 private:
  std::unique_ptr<Captured> capture(const std::vector<torch::Tensor>& inputs) {
    auto captured = std::make_unique<Captured>();
    for (const torch::Tensor& input : inputs) {
      captured->static_inputs.push_back(input.clone());
    }
    const c10::DeviceIndex index = inputs.front().device().index();
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
    // The side stream starts after the clones above, and the capture after the warm-up.
    torch::cuda::synchronize(index);
    {
      const c10::cuda::CUDAStreamGuard on_side(side);
      for (int call = 0; call < kWarmupCallsBeforeCapture; ++call) {
        inner_->forward(captured->static_inputs);
      }
      side.synchronize();
      captured->graph.capture_begin();
      captured->static_output = inner_->forward(captured->static_inputs);
      captured->graph.capture_end();
    }
    torch::cuda::synchronize(index);
    // Refused before the first replay: an output that cannot be copied back.
    copy_output(captured->static_output);
    return captured;
  }

  std::unique_ptr<DeployedModel> inner_;
  std::map<InputShapes, std::unique_ptr<Captured>> captured_;
};

}  // namespace

std::unique_ptr<DeployedModel> replay_as_cuda_graphs(std::unique_ptr<DeployedModel> inner,
                                                     const torch::Device& device) {
  if (!device.is_cuda()) {
    throw UsageError("option --transform " + std::string(kTransformCudaGraph) +
                     " runs on CUDA only, not on " + device.str());
  }
  return std::make_unique<CudaGraphModel>(std::move(inner));
}

}  // namespace tvdeploy
