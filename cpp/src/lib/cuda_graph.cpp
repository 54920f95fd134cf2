// CUDA graph replay of a loaded classifier, PyTorch's recipe (torch.cuda.graphs) in C++: a few
// forwards on a side stream so lazy work (the profiling executor's optimisation, cuDNN's
// algorithm choice, AOTInductor's constant folding) happens before the capture; then one capture
// per input shape with a static input tensor. Built only against a CUDA LibTorch (see
// CMakeLists.txt); cuda_graph_unavailable.cpp otherwise.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/cuda.h>

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
  torch::Tensor static_input;
  torch::Tensor static_output;
};

class CudaGraphClassifier final : public Classifier {
 public:
  explicit CudaGraphClassifier(std::unique_ptr<Classifier> inner) : inner_(std::move(inner)) {}

  c10::IValue forward(const torch::Tensor& batch) override {
    if (!batch.is_cuda()) {
      throw UsageError("CUDA graph replay got a batch on " + c10::str(batch.device()) +
                       "; move it to the GPU first");
    }
    auto found = captured_.find(batch.sizes().vec());
    if (found == captured_.end()) {
      found = captured_.emplace(batch.sizes().vec(), capture(batch)).first;
    }
    Captured& graph = *found->second;
    graph.static_input.copy_(batch);
    graph.graph.replay();
    // The next replay overwrites the static output.
    return graph.static_output.clone();
  }

  std::string format() const override { return inner_->format(); }
  std::optional<std::int64_t> fusion_groups() const override { return inner_->fusion_groups(); }
  std::optional<std::int64_t> cuda_graph_captures() const override {
    return static_cast<std::int64_t>(captured_.size());
  }

 private:
  std::unique_ptr<Captured> capture(const torch::Tensor& batch) {
    auto captured = std::make_unique<Captured>();
    captured->static_input = batch.clone();
    const c10::DeviceIndex index = batch.device().index();
    c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
    // The side stream starts after the clone above, and the capture after the warm-up.
    torch::cuda::synchronize(index);
    {
      const c10::cuda::CUDAStreamGuard on_side(side);
      for (int call = 0; call < kWarmupCallsBeforeCapture; ++call) {
        inner_->forward(captured->static_input);
      }
      side.synchronize();
      captured->graph.capture_begin();
      captured->static_output = inner_->forward(captured->static_input).toTensor();
      captured->graph.capture_end();
    }
    torch::cuda::synchronize(index);
    return captured;
  }

  std::unique_ptr<Classifier> inner_;
  std::map<std::vector<std::int64_t>, std::unique_ptr<Captured>> captured_;
};

}  // namespace

std::unique_ptr<Classifier> replay_as_cuda_graphs(std::unique_ptr<Classifier> inner,
                                                  const torch::Device& device) {
  if (!device.is_cuda()) {
    throw UsageError("option --transform " + std::string(kTransformCudaGraph) +
                     " runs on CUDA only, not on " + device.str());
  }
  return std::make_unique<CudaGraphClassifier>(std::move(inner));
}

}  // namespace tvdeploy
