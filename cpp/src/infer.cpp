// infer: classify preprocessed images (.dat + sidecar) with a TorchScript model or AOTInductor
// package and write logits plus top-k predictions as JSON.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/cli.hpp"
#include "tvdeploy/dat.hpp"
#include "tvdeploy/device.hpp"
#include "tvdeploy/errors.hpp"
#include "tvdeploy/labels.hpp"
#include "tvdeploy/model.hpp"
#include "tvdeploy/report.hpp"

namespace {

using namespace tvdeploy;

constexpr std::string_view kProgram = "infer";
constexpr std::int64_t kDefaultTopk = 5;
constexpr std::int64_t kClassDim = 1;

ArgParser make_parser() {
  ArgParser parser(
      std::string(kProgram),
      "Run a TorchScript or AOTInductor classifier on preprocessed inputs (X.dat with sidecar "
      "X.json) and write logits and top-k predictions to a JSON file.",
      "INPUT.dat", 1, std::numeric_limits<std::size_t>::max());
  parser
      .add({"model", "M.pt",
            "TorchScript model (.pt) or AOTInductor package (.pt2) returning [N, C] logits", true,
            ""})
      .add({"labels", "L.txt", "class labels, one per line (C lines)", true, ""})
      .add({"device", std::string(kDeviceChoices), "where to run", false, "auto"})
      .add({"transform", std::string(kTransformChoices),
            "applied after loading (the 'optimized' variant)", false, std::string(kTransformNone)})
      .add({"topk", "K", "number of top classes to report, 1..C", false,
            std::to_string(kDefaultTopk)})
      .add({"threads", "N", "intra-op CPU threads (0 = LibTorch default)", false, ""})
      .add({"output", "OUT.json", "result file (written atomically)", true, ""});
  return parser;
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

void run(const ParsedArgs& args) {
  const fs::path model_path = args.get("model");
  const fs::path labels_path = args.get("labels");
  const fs::path output_path = args.get("output");
  const std::int64_t topk = args.get_int("topk");
  if (topk < 1) {
    throw UsageError("option --topk must be >= 1, got " + std::to_string(topk));
  }
  const std::int64_t threads = thread_option(args, "threads");
  const torch::Device device = choose_device(args.get("device"));

  const std::vector<std::string> labels = load_labels(labels_path);
  const auto num_classes = static_cast<std::int64_t>(labels.size());
  if (topk > num_classes) {
    throw UsageError("option --topk must be <= the number of classes (" +
                     std::to_string(num_classes) + " labels in " + quoted(labels_path) + "), got " +
                     std::to_string(topk));
  }
  if (threads > 0) {
    at::set_num_threads(static_cast<int>(threads));
  }

  c10::InferenceMode inference_guard;
  const std::unique_ptr<DeployedModel> model =
      load_model(model_path, device, args.get("transform"));

  json results = json::array();
  for (const std::string& input : args.positionals) {
    const fs::path input_path = input;
    const torch::Tensor image = load_dat(input_path).tensor.to(device);
    const std::int64_t batch = image.size(0);
    const c10::IValue output =
        with_model_context(model_path, {input_path}, [&] { return model->forward({image}); });
    torch::Tensor logits = require_logits(output, batch, model_path);
    if (logits.size(kClassDim) != num_classes) {
      throw InputError("model " + quoted(model_path) + " outputs " +
                       std::to_string(logits.size(kClassDim)) + " classes but " +
                       quoted(labels_path) + " has " + std::to_string(num_classes) + " labels");
    }
    logits = logits.to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor probs = torch::softmax(logits, kClassDim, torch::kFloat32);
    const auto [top_probs, top_indices] = probs.topk(topk, kClassDim);

    for (std::int64_t row = 0; row < batch; ++row) {
      json entry;
      entry["input"] = input;
      if (batch > 1) entry["row"] = row;
      entry["logits"] = to_json_floats(logits[row].contiguous());
      json top = json::array();
      for (std::int64_t r = 0; r < topk; ++r) {
        const std::int64_t cls = top_indices[row][r].item<std::int64_t>();
        top.push_back({{"rank", r + 1},
                       {"class_index", cls},
                       {"label", labels[static_cast<std::size_t>(cls)]},
                       {"probability", static_cast<double>(top_probs[row][r].item<float>())}});
      }
      entry["topk"] = std::move(top);
      results.push_back(std::move(entry));
    }
  }

  const json report = {
      {"program", kProgram},
      {"model", model_path.string()},
      {"device", device_string(device)},
      {"transform", args.get("transform")},
      {"threads", at::get_num_threads()},
      {"torch_version", kTorchVersion},
      {"results", std::move(results)},
  };
  write_json_atomic(output_path, report);
}

}  // namespace

int main(int argc, char** argv) { return run_main(make_parser(), argc, argv, run); }
