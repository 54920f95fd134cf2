// The classification task: one batch in (e.g. NCHW images), [N, C] logits out; infer writes each
// row's logits and its top-k classes with their labels and softmax probabilities.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/errors.hpp"
#include "tvdeploy/labels.hpp"
#include "tvdeploy/task.hpp"

namespace tvdeploy {
namespace {

constexpr std::size_t kInputsPerCall = 1;
constexpr std::int64_t kLogitsRank = 2;  // N, C
constexpr std::int64_t kBatchDim = 0;
constexpr std::int64_t kClassDim = 1;
constexpr std::int64_t kDefaultTopk = 5;
constexpr std::string_view kTopkOption = "topk";

// The model contract: forward returns a [N, C] tensor with N = batch size.
torch::Tensor require_logits(const c10::IValue& output, std::int64_t batch, const fs::path& model) {
  if (!output.isTensor()) {
    throw InputError("model " + quoted(model) + " returned a " + output.tagKind() +
                     ", expected a single Tensor of logits with shape [N, C]");
  }
  torch::Tensor logits = output.toTensor();
  if (logits.dim() != kLogitsRank || logits.size(kBatchDim) != batch) {
    throw InputError("model " + quoted(model) + " returned a tensor of shape " +
                     c10::str(logits.sizes()) + ", expected [" + std::to_string(batch) + ", C]");
  }
  return logits;
}

json to_json_floats(const torch::Tensor& row) {
  // row is a contiguous CPU float32 1-D tensor; keep float values exact in JSON.
  json values = json::array();
  const float* data = row.data_ptr<float>();
  for (std::int64_t i = 0; i < row.numel(); ++i) {
    values.push_back(static_cast<double>(data[i]));
  }
  return values;
}

// Per row of each call: "input", "row" (batches of more than one), "logits", "topk".
class ClassificationWriter final : public ResultWriter {
 public:
  ClassificationWriter(fs::path model, fs::path labels_path, std::vector<std::string> labels,
                       std::int64_t topk)
      : model_(std::move(model)),
        labels_path_(std::move(labels_path)),
        labels_(std::move(labels)),
        topk_(topk) {}

  void write(const std::vector<std::string>& inputs, const c10::IValue& output,
             json& results) const override {
    const std::string& input = inputs.front();
    torch::Tensor logits = output.toTensor();
    const std::int64_t batch = logits.size(kBatchDim);
    const auto num_classes = static_cast<std::int64_t>(labels_.size());
    if (logits.size(kClassDim) != num_classes) {
      throw InputError("model " + quoted(model_) + " outputs " +
                       std::to_string(logits.size(kClassDim)) + " classes but " +
                       quoted(labels_path_) + " has " + std::to_string(num_classes) + " labels");
    }
    logits = logits.to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor probs = torch::softmax(logits, kClassDim, torch::kFloat32);
    const auto [top_probs, top_indices] = probs.topk(topk_, kClassDim);

    for (std::int64_t row = 0; row < batch; ++row) {
      json entry;
      entry["input"] = input;
      if (batch > 1) entry["row"] = row;
      entry["logits"] = to_json_floats(logits[row].contiguous());
      json top = json::array();
      for (std::int64_t r = 0; r < topk_; ++r) {
        const std::int64_t cls = top_indices[row][r].item<std::int64_t>();
        top.push_back({{"rank", r + 1},
                       {"class_index", cls},
                       {"label", labels_[static_cast<std::size_t>(cls)]},
                       {"probability", static_cast<double>(top_probs[row][r].item<float>())}});
      }
      entry["topk"] = std::move(top);
      results.push_back(std::move(entry));
    }
  }

 private:
  fs::path model_;
  fs::path labels_path_;
  std::vector<std::string> labels_;
  std::int64_t topk_;
};

class Classification final : public Task {
 public:
  explicit Classification(std::string_view name) : name_(name) {}

  std::string_view name() const override { return name_; }

  std::size_t inputs_per_call() const override { return kInputsPerCall; }

  void check_output(const c10::IValue& output, std::int64_t batch,
                    const fs::path& model) const override {
    require_logits(output, batch, model);
  }

  std::vector<OptionSpec> writer_options() const override {
    return {labels_option(name_),
            {std::string(kTopkOption), "K", "number of top classes to report, 1..C", false,
             std::to_string(kDefaultTopk)}};
  }

  std::unique_ptr<ResultWriter> make_writer(const ParsedArgs& args,
                                            const fs::path& model) const override {
    const fs::path labels_path = required_labels(args);
    const std::int64_t topk = args.get_int(std::string(kTopkOption));
    if (topk < 1) {
      throw UsageError("option --topk must be >= 1, got " + std::to_string(topk));
    }
    std::vector<std::string> labels = load_labels(labels_path);
    const auto num_classes = static_cast<std::int64_t>(labels.size());
    if (topk > num_classes) {
      throw UsageError("option --topk must be <= the number of classes (" +
                       std::to_string(num_classes) + " labels in " + quoted(labels_path) +
                       "), got " + std::to_string(topk));
    }
    return std::make_unique<ClassificationWriter>(model, labels_path, std::move(labels), topk);
  }

 private:
  std::string_view name_;
};

}  // namespace

const Task& classification_task() {
  static const Classification task(kTaskClassification);
  return task;
}

std::unique_ptr<Task> make_logits_task(std::string_view name) {
  return std::make_unique<Classification>(name);
}

}  // namespace tvdeploy
