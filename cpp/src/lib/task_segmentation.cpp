// The segmentation task: one batch of images in, [N, C, H, W] logits out (a tensor, or a dict
// holding it under "out", as torchvision's models return it undeployed); infer writes per image
// its logits' shape, the share of pixels of each class and the argmax mask, the mask as a .dat
// with its sidecar beside the result file (<out stem>.<entry index>.mask.dat), named exactly as
// tvdeploy.predict.outputs names the Python side's.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/errors.hpp"
#include "tvdeploy/labels.hpp"
#include "tvdeploy/outputs.hpp"
#include "tvdeploy/task.hpp"

namespace tvdeploy {
namespace {

constexpr std::size_t kInputsPerCall = 1;
constexpr std::int64_t kLogitsRank = 4;  // N, C, H, W
constexpr std::int64_t kBatchDim = 0;
constexpr std::int64_t kClassDim = 1;
constexpr std::string_view kOutKey = "out";
constexpr std::string_view kMaskField = "mask";
constexpr std::string_view kMaskLayout = "HW";

// The logits of a model's output: the tensor itself, or the "out" of a dict.
torch::Tensor logits_of(const c10::IValue& output, const fs::path& model) {
  if (output.isTensor()) return output.toTensor();
  if (output.isGenericDict()) {
    const c10::Dict<c10::IValue, c10::IValue> dict = output.toGenericDict();
    const auto out = dict.find(c10::IValue(std::string(kOutKey)));
    if (out == dict.end() || !out->value().isTensor()) {
      throw InputError("model " + quoted(model) + " returned a dict without a Tensor '" +
                       std::string(kOutKey) + "', expected logits with shape [N, C, H, W]");
    }
    return out->value().toTensor();
  }
  throw InputError("model " + quoted(model) + " returned a " + output.tagKind() +
                   ", expected a Tensor of logits with shape [N, C, H, W] (or a dict holding it "
                   "as '" +
                   std::string(kOutKey) + "')");
}

// The model contract: forward returns [N, C, H, W] logits with N = batch size.
torch::Tensor require_logits(const c10::IValue& output, std::int64_t batch, const fs::path& model) {
  torch::Tensor logits = logits_of(output, model);
  if (logits.dim() != kLogitsRank || logits.size(kBatchDim) != batch) {
    throw InputError("model " + quoted(model) + " returned a tensor of shape " +
                     c10::str(logits.sizes()) + ", expected [" + std::to_string(batch) +
                     ", C, H, W]");
  }
  return logits;
}

// Per row of each call: "input", "row", "logits_shape" [C, H, W], "class_fractions" (one per
// class), "mask" (a reference to the .dat of the argmax mask: its file name, shape and layout).
class SegmentationWriter final : public ResultWriter {
 public:
  SegmentationWriter(fs::path model, fs::path labels_path, std::int64_t num_classes,
                     fs::path record)
      : model_(std::move(model)),
        labels_path_(std::move(labels_path)),
        num_classes_(num_classes),
        record_(std::move(record)) {}

  void write(const std::vector<std::string>& inputs, const c10::IValue& output,
             json& results) const override {
    const std::string& input = inputs.front();
    const torch::Tensor logits = logits_of(output, model_);
    if (logits.size(kClassDim) != num_classes_) {
      throw InputError("model " + quoted(model_) + " outputs " +
                       std::to_string(logits.size(kClassDim)) + " classes but " +
                       quoted(labels_path_) + " has " + std::to_string(num_classes_) + " labels");
    }
    const torch::Tensor masks = logits.to(torch::kCPU, torch::kFloat32).argmax(kClassDim);
    const std::int64_t batch = logits.size(kBatchDim);
    for (std::int64_t row = 0; row < batch; ++row) {
      const torch::Tensor mask = masks[row].contiguous();
      const torch::Tensor counts = torch::bincount(mask.flatten(), {}, num_classes_);
      const auto pixels = static_cast<double>(mask.numel());
      json fractions = json::array();
      for (std::int64_t c = 0; c < num_classes_; ++c) {
        fractions.push_back(static_cast<double>(counts[c].item<std::int64_t>()) / pixels);
      }
      const fs::path dat = output_dat_path(record_, results.size(), kMaskField);
      json reference = write_output_dat(dat, mask.to(torch::kFloat32).contiguous(), kMaskLayout,
                                        kMaskField, input);

      json entry;
      entry["input"] = input;
      entry["row"] = row;
      entry["logits_shape"] = {logits.size(1), logits.size(2), logits.size(3)};
      entry["class_fractions"] = std::move(fractions);
      entry[std::string(kMaskField)] = std::move(reference);
      results.push_back(std::move(entry));
    }
  }

 private:
  fs::path model_;
  fs::path labels_path_;
  std::int64_t num_classes_;
  fs::path record_;
};

class Segmentation final : public Task {
 public:
  std::string_view name() const override { return kTaskSegmentation; }

  std::size_t inputs_per_call() const override { return kInputsPerCall; }

  void check_output(const c10::IValue& output, std::int64_t batch,
                    const fs::path& model) const override {
    require_logits(output, batch, model);
  }

  std::vector<OptionSpec> writer_options() const override {
    return {labels_option(kTaskSegmentation)};
  }

  std::unique_ptr<ResultWriter> make_writer(const ParsedArgs& args,
                                            const fs::path& model) const override {
    const fs::path labels_path = required_labels(args);
    const auto num_classes = static_cast<std::int64_t>(load_labels(labels_path).size());
    // The masks go beside infer's result file (its required --output).
    return std::make_unique<SegmentationWriter>(model, labels_path, num_classes,
                                                fs::path(args.get("output")));
  }
};

}  // namespace

const Task& segmentation_task() {
  static const Segmentation task;
  return task;
}

}  // namespace tvdeploy
