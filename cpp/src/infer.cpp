// infer: run a deployed model (TorchScript, AOTInductor package or OpenVINO IR) on preprocessed
// inputs (.dat + sidecar) and write its results as JSON: what --task's writer makes of each
// model call's output (classification: logits plus top-k predictions per row).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/cli.hpp"
#include "tvdeploy/dat.hpp"
#include "tvdeploy/device.hpp"
#include "tvdeploy/errors.hpp"
#include "tvdeploy/model.hpp"
#include "tvdeploy/quantized.hpp"
#include "tvdeploy/report.hpp"
#include "tvdeploy/task.hpp"
#include "tvdeploy/torchvision_ops.hpp"

namespace {

using namespace tvdeploy;

constexpr std::string_view kProgram = "infer";

ArgParser make_parser() {
  ArgParser parser(
      std::string(kProgram),
      "Run a TorchScript model, AOTInductor package or OpenVINO IR on preprocessed inputs (X.dat "
      "with sidecar X.json; --task says how many make one model call, in order) and write its "
      "results to a JSON file (classification: logits and top-k predictions).",
      "INPUT.dat", 1, std::numeric_limits<std::size_t>::max());
  parser
      .add({"model", "M.pt",
            "TorchScript model (.pt), AOTInductor package (.pt2) or OpenVINO IR (.xml)", true, ""})
      .add(task_option());
  // Every task's writer options; each task reads its own.
  std::set<std::string> offered;
  for (const Task* task : all_tasks()) {
    for (OptionSpec& spec : task->writer_options()) {
      if (offered.insert(spec.name).second) parser.add(std::move(spec));
    }
  }
  parser.add({"device", std::string(kDeviceChoices), "where to run", false, "auto"})
      .add({"transform", std::string(kTransformChoices),
            "applied after loading (the 'optimized' variant)", false, std::string(kTransformNone)})
      .add(inference_precision_option())
      .add(quantized_engine_option())
      .add(torchvision_ops_option())
      .add({"threads", "N", "intra-op CPU threads (0 = LibTorch default)", false, ""})
      .add({"output", "OUT.json", "result file (written atomically)", true, ""});
  return parser;
}

// The input files of each model call: consecutive runs of the task's inputs per call.
std::vector<std::vector<std::string>> model_calls(const Task& task,
                                                  const std::vector<std::string>& inputs) {
  const std::size_t per_call = task.inputs_per_call();
  if (inputs.size() % per_call != 0) {
    throw UsageError("--task " + std::string(task.name()) + " takes " + std::to_string(per_call) +
                     " inputs per model call, got " + std::to_string(inputs.size()) +
                     " input files (not a multiple)");
  }
  std::vector<std::vector<std::string>> calls;
  for (std::size_t first = 0; first < inputs.size(); first += per_call) {
    calls.emplace_back(inputs.begin() + static_cast<std::ptrdiff_t>(first),
                       inputs.begin() + static_cast<std::ptrdiff_t>(first + per_call));
    // Checked before the model loads: a swapped pair would run and give a wrong flow.
    check_call_inputs(task, {calls.back().begin(), calls.back().end()});
  }
  return calls;
}

void run(const ParsedArgs& args) {
  const fs::path model_path = args.get("model");
  const fs::path output_path = args.get("output");
  const Task& task = find_task(args.get("task"));
  const std::vector<std::vector<std::string>> calls = model_calls(task, args.positionals);
  const std::unique_ptr<ResultWriter> writer = task.make_writer(args, model_path);
  const std::int64_t threads = thread_option(args, "threads");
  const torch::Device device = choose_device(args.get("device"));
  if (threads > 0) {
    at::set_num_threads(static_cast<int>(threads));
  }

  c10::InferenceMode inference_guard;
  select_quantized_engine(args.get("quantized-engine"), device);
  const std::optional<TorchvisionOps> torchvision_ops =
      load_torchvision_ops(args.get("torchvision-ops"), task.needs_torchvision_ops());
  const std::unique_ptr<DeployedModel> model =
      load_model(model_path, device, args.get("transform"), args.get("inference-precision"));

  json results = json::array();
  for (const std::vector<std::string>& call : calls) {
    const std::vector<fs::path> input_paths(call.begin(), call.end());
    std::vector<torch::Tensor> inputs;
    std::int64_t batch = 0;
    for (const fs::path& input_path : input_paths) {
      const DatInput input = load_dat(input_path);
      // The call's batch: its first input's N axis (an input without one is one sample).
      if (inputs.empty()) {
        const auto batch_axis = axis_index(input.layout, kBatchAxis);
        batch = batch_axis ? input.tensor.size(*batch_axis) : 1;
      }
      inputs.push_back(input.tensor.to(device));
    }
    const c10::IValue output =
        with_model_context(model_path, input_paths, [&] { return model->forward(inputs); });
    task.check_output(output, batch, model_path);
    writer->write(call, output, results);
  }

  const json report = {
      {"program", kProgram},
      {"model", model_path.string()},
      {"device", device_string(device)},
      {"transform", args.get("transform")},
      {"inference_precision", args.get("inference-precision")},
      {"quantized_engine", args.get("quantized-engine")},
      {"torchvision_ops", torchvision_ops_report(torchvision_ops)},
      {"threads", at::get_num_threads()},
      {"torch_version", kTorchVersion},
      {"results", std::move(results)},
  };
  write_json_atomic(output_path, report);
}

}  // namespace

int main(int argc, char** argv) { return run_main(make_parser(), argc, argv, run); }
