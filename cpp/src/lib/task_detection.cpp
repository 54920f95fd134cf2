// The detection task: one image in ([C, H, W], its own size), that image's detection fields out
// as a list (or tuple) of tensors, as tvdeploy.tasks.detection.OneImageDetections deploys
// torchvision's detectors: boxes [K, 4] (xyxy), labels [K], scores [K], then masks [K, 1, H, W]
// (Mask R-CNN) or keypoints [K, P, 3] and keypoints_scores [K, P] (Keypoint R-CNN). The models
// call torchvision's operators (nms, roi_align), so the programs load them (--torchvision-ops).
// infer writes per image its detections with category names, the masks as a .dat beside the
// result file, exactly as the Python adapter's predict writes them.

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
// One image per call: the input has no batch axis.
constexpr std::int64_t kImagesPerCall = 1;
constexpr std::size_t kBoxFields = 3;       // boxes, labels, scores
constexpr std::size_t kMaskFields = 4;      // + masks
constexpr std::size_t kKeypointFields = 5;  // + keypoints, keypoints_scores
constexpr std::int64_t kBoxCoordinates = 4;
constexpr std::int64_t kKeypointValues = 3;  // x, y, visibility
constexpr std::string_view kMasksField = "masks";
constexpr std::string_view kMasksLayout = "KHW";
constexpr std::string_view kExpected =
    "a list of detection fields: boxes [K, 4], labels [K], scores [K], then masks [K, 1, H, W] "
    "or keypoints [K, P, 3] and keypoints_scores [K, P]";

std::vector<torch::Tensor> fields_of(const c10::IValue& output, const fs::path& model) {
  std::vector<torch::Tensor> fields;
  const auto add = [&](const c10::IValue& value) {
    if (!value.isTensor()) {
      throw InputError("model " + quoted(model) + " returned a list holding a " + value.tagKind() +
                       ", expected " + std::string(kExpected));
    }
    fields.push_back(value.toTensor());
  };
  if (output.isList()) {
    for (const c10::IValue& value : output.toListRef()) add(value);
  } else if (output.isTuple()) {
    for (const c10::IValue& value : output.toTupleRef().elements()) add(value);
  } else {
    throw InputError("model " + quoted(model) + " returned a " + output.tagKind() + ", expected " +
                     std::string(kExpected));
  }
  if (fields.size() != kBoxFields && fields.size() != kMaskFields &&
      fields.size() != kKeypointFields) {
    throw InputError("model " + quoted(model) + " returned " + std::to_string(fields.size()) +
                     " tensors, expected " + std::string(kExpected));
  }
  return fields;
}

// The model contract: the fields of one image's K detections, each with K rows.
std::vector<torch::Tensor> require_detections(const c10::IValue& output, const fs::path& model) {
  std::vector<torch::Tensor> fields = fields_of(output, model);
  const torch::Tensor& boxes = fields[0];
  const bool boxes_ok = boxes.dim() == 2 && boxes.size(1) == kBoxCoordinates;
  const std::int64_t count = boxes_ok ? boxes.size(0) : -1;
  bool ok = boxes_ok && fields[1].dim() == 1 && fields[1].size(0) == count &&
            fields[2].dim() == 1 && fields[2].size(0) == count;
  if (fields.size() == kMaskFields) {
    ok = ok && fields[3].dim() == 4 && fields[3].size(0) == count && fields[3].size(1) == 1;
  }
  if (fields.size() == kKeypointFields) {
    ok = ok && fields[3].dim() == 3 && fields[3].size(0) == count &&
         fields[3].size(2) == kKeypointValues && fields[4].dim() == 2 &&
         fields[4].size(0) == count && fields[4].size(1) == fields[3].size(1);
  }
  if (!ok) {
    std::string shapes;
    for (const torch::Tensor& field : fields) {
      shapes += (shapes.empty() ? "" : ", ") + c10::str(field.sizes());
    }
    throw InputError("model " + quoted(model) + " returned tensors of shapes " + shapes +
                     ", expected " + std::string(kExpected));
  }
  return fields;
}

json rows_of(const torch::Tensor& tensor) {
  const torch::Tensor values = tensor.to(torch::kCPU, torch::kFloat64).contiguous();
  json rows = json::array();
  for (std::int64_t i = 0; i < values.size(0); ++i) {
    rows.push_back(json::array());
    for (std::int64_t j = 0; j < values.size(1); ++j)
      rows.back().push_back(values[i][j].item<double>());
  }
  return rows;
}

// Per image: "input", "row" (0), "detections" (each "box", "label", "category", "score", and
// "keypoints", "keypoints_scores" where the model gives them), and "masks" (a reference to the
// .dat of the [K, H, W] soft masks) where it gives masks.
class DetectionWriter final : public ResultWriter {
 public:
  DetectionWriter(fs::path model, fs::path labels_path, std::vector<std::string> labels,
                  fs::path record)
      : model_(std::move(model)),
        labels_path_(std::move(labels_path)),
        labels_(std::move(labels)),
        record_(std::move(record)) {}

  void write(const std::vector<std::string>& inputs, const c10::IValue& output,
             json& results) const override {
    const std::string& input = inputs.front();
    const std::vector<torch::Tensor> fields = require_detections(output, model_);
    const torch::Tensor boxes = fields[0].to(torch::kCPU, torch::kFloat64);
    const torch::Tensor labels = fields[1].to(torch::kCPU, torch::kLong);
    const torch::Tensor scores = fields[2].to(torch::kCPU, torch::kFloat64);
    const bool keypoints = fields.size() == kKeypointFields;
    json detections = json::array();
    for (std::int64_t k = 0; k < boxes.size(0); ++k) {
      const std::int64_t label = labels[k].item<std::int64_t>();
      if (label < 0 || label >= static_cast<std::int64_t>(labels_.size())) {
        throw InputError("model " + quoted(model_) + " returned label " + std::to_string(label) +
                         " but " + quoted(labels_path_) + " has " + std::to_string(labels_.size()) +
                         " category names");
      }
      json box = json::array();
      for (std::int64_t c = 0; c < kBoxCoordinates; ++c) box.push_back(boxes[k][c].item<double>());
      json detection = {{"box", std::move(box)},
                        {"label", label},
                        {"category", labels_[static_cast<std::size_t>(label)]},
                        {"score", scores[k].item<double>()}};
      if (keypoints) {
        detection["keypoints"] = rows_of(fields[3][k]);
        json keypoint_scores = json::array();
        const torch::Tensor values = fields[4][k].to(torch::kCPU, torch::kFloat64);
        for (std::int64_t p = 0; p < values.size(0); ++p)
          keypoint_scores.push_back(values[p].item<double>());
        detection["keypoints_scores"] = std::move(keypoint_scores);
      }
      detections.push_back(std::move(detection));
    }
    json entry;
    entry["input"] = input;
    entry["row"] = 0;
    entry["detections"] = std::move(detections);
    if (fields.size() == kMaskFields) {
      const torch::Tensor& masks = fields[3];
      const torch::Tensor flat = masks.reshape({masks.size(0), masks.size(2), masks.size(3)});
      entry[std::string(kMasksField)] = write_output_dat(
          output_dat_path(record_, results.size(), kMasksField),
          flat.to(torch::kCPU, torch::kFloat32).contiguous(), kMasksLayout, kMasksField, input);
    }
    results.push_back(std::move(entry));
  }

 private:
  fs::path model_;
  fs::path labels_path_;
  std::vector<std::string> labels_;
  fs::path record_;
};

class Detection final : public Task {
 public:
  std::string_view name() const override { return kTaskDetection; }

  std::size_t inputs_per_call() const override { return kInputsPerCall; }

  bool needs_torchvision_ops() const override { return true; }

  void check_output(const c10::IValue& output, std::int64_t batch,
                    const fs::path& model) const override {
    if (batch != kImagesPerCall) {
      throw InputError("model " + quoted(model) + ": a detector takes one [C, H, W] image per " +
                       "call, got a batch of " + std::to_string(batch));
    }
    require_detections(output, model);
  }

  std::vector<OptionSpec> writer_options() const override {
    return {labels_option(kTaskDetection)};
  }

  std::unique_ptr<ResultWriter> make_writer(const ParsedArgs& args,
                                            const fs::path& model) const override {
    const fs::path labels_path = required_labels(args);
    return std::make_unique<DetectionWriter>(model, labels_path, load_labels(labels_path),
                                             fs::path(args.get("output")));
  }
};

}  // namespace

const Task& detection_task() {
  static const Detection task;
  return task;
}

}  // namespace tvdeploy
