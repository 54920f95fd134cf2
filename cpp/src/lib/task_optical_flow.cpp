// The optical-flow task: an image pair in (two inputs per call, image1 then image2, each file
// named <pair>.<input>.dat), the [N, 2, H, W] flow out (a tensor, or the last of the list of
// flows torchvision's RAFT returns undeployed, one per refinement step); infer writes per pair
// and row the flow's shape, mean vector and mean magnitude, and the flow as a .dat with its
// sidecar beside the result file (<out stem>.<entry index>.flow.dat), as the Python adapter's
// predict writes them.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/errors.hpp"
#include "tvdeploy/outputs.hpp"
#include "tvdeploy/task.hpp"

namespace tvdeploy {
namespace {

// tvdeploy.registry.TASKS["optical_flow"].input_names, in forward's order.
constexpr std::string_view kFirstImage = "image1";
constexpr std::string_view kSecondImage = "image2";
constexpr std::size_t kInputsPerCall = 2;
constexpr std::int64_t kFlowRank = 4;  // N, 2, H, W
constexpr std::int64_t kBatchDim = 0;
constexpr std::int64_t kChannelDim = 1;
constexpr std::int64_t kFlowChannels = 2;  // u (along W), v (along H), in pixels
constexpr std::string_view kFlowField = "flow";
constexpr std::string_view kFlowLayout = "CHW";

// The flow of a model's output: the tensor itself, or the last tensor of a list.
torch::Tensor flow_of(const c10::IValue& output, const fs::path& model) {
  if (output.isTensor()) return output.toTensor();
  if (output.isTensorList()) {
    const c10::List<at::Tensor> flows = output.toTensorList();
    if (!flows.empty()) return flows.get(flows.size() - 1);
  }
  if (output.isList()) {
    const c10::List<c10::IValue> flows = output.toList();
    if (!flows.empty() && flows.get(flows.size() - 1).isTensor()) {
      return flows.get(flows.size() - 1).toTensor();
    }
  }
  throw InputError("model " + quoted(model) + " returned a " + output.tagKind() +
                   ", expected a flow Tensor with shape [N, 2, H, W] (or a non-empty list of "
                   "them, the last the flow)");
}

// The model contract: forward returns a [N, 2, H, W] flow with N = batch size.
torch::Tensor require_flow(const c10::IValue& output, std::int64_t batch, const fs::path& model) {
  torch::Tensor flow = flow_of(output, model);
  if (flow.dim() != kFlowRank || flow.size(kBatchDim) != batch ||
      flow.size(kChannelDim) != kFlowChannels) {
    throw InputError("model " + quoted(model) + " returned a tensor of shape " +
                     c10::str(flow.sizes()) + ", expected a flow [" + std::to_string(batch) +
                     ", 2, H, W]");
  }
  return flow;
}

// Per row of each call: "input" (the call's first file), "inputs" (all of them), "row",
// "flow_shape" [2, H, W], "mean_flow" [u, v], "mean_magnitude" (px), "flow" (a reference to the
// .dat of the flow: its file name, shape and layout).
class FlowWriter final : public ResultWriter {
 public:
  FlowWriter(fs::path model, fs::path record)
      : model_(std::move(model)), record_(std::move(record)) {}

  void write(const std::vector<std::string>& inputs, const c10::IValue& output,
             json& results) const override {
    const torch::Tensor flows = flow_of(output, model_).to(torch::kCPU, torch::kFloat32);
    const std::int64_t batch = flows.size(kBatchDim);
    for (std::int64_t row = 0; row < batch; ++row) {
      const torch::Tensor flow = flows[row].contiguous();
      // Summaries in double, as the Python adapter computes them.
      const torch::Tensor wide = flow.to(torch::kFloat64);
      const torch::Tensor mean = wide.mean({1, 2});
      const double magnitude = wide.norm(2, {0}).mean().item<double>();

      json entry;
      entry["input"] = inputs.front();
      entry["inputs"] = inputs;
      entry["row"] = row;
      entry["flow_shape"] = {flow.size(0), flow.size(1), flow.size(2)};
      entry["mean_flow"] = {mean[0].item<double>(), mean[1].item<double>()};
      entry["mean_magnitude"] = magnitude;
      entry[std::string(kFlowField)] =
          write_output_dat(output_dat_path(record_, results.size(), kFlowField), flow, kFlowLayout,
                           kFlowField, inputs.front());
      results.push_back(std::move(entry));
    }
  }

 private:
  fs::path model_;
  fs::path record_;
};

class OpticalFlow final : public Task {
 public:
  std::string_view name() const override { return kTaskOpticalFlow; }

  std::size_t inputs_per_call() const override { return kInputsPerCall; }

  std::vector<std::string_view> input_names() const override { return {kFirstImage, kSecondImage}; }

  void check_output(const c10::IValue& output, std::int64_t batch,
                    const fs::path& model) const override {
    require_flow(output, batch, model);
  }

  // A flow needs no labels or top-k: infer's --labels, if given, is not read.
  std::vector<OptionSpec> writer_options() const override { return {}; }

  std::unique_ptr<ResultWriter> make_writer(const ParsedArgs& args,
                                            const fs::path& model) const override {
    // The flows go beside infer's result file (its required --output).
    return std::make_unique<FlowWriter>(model, fs::path(args.get("output")));
  }
};

}  // namespace

const Task& optical_flow_task() {
  static const OpticalFlow task;
  return task;
}

}  // namespace tvdeploy
