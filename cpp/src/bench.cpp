// bench: measure per-forward latency of a TorchScript model, AOTInductor package or OpenVINO IR
// on one preprocessed sample per model input repeated to a batch; writes raw latencies
// (statistics are computed in Python). --task says how many inputs make a call and checks the
// first call's output; nothing else of the output is computed. --mode serve keeps the model
// loaded and answers timed-block requests on stdin instead (tvdeploy/measure.hpp), so a
// coordinator can interleave it with other runtimes.
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tvdeploy/allocator.hpp"
#include "tvdeploy/cli.hpp"
#include "tvdeploy/dat.hpp"
#include "tvdeploy/device.hpp"
#include "tvdeploy/errors.hpp"
#include "tvdeploy/measure.hpp"
#include "tvdeploy/model.hpp"
#include "tvdeploy/quantized.hpp"
#include "tvdeploy/report.hpp"
#include "tvdeploy/task.hpp"
#include "tvdeploy/timing.hpp"
#include "tvdeploy/torchvision_ops.hpp"

namespace {

using namespace tvdeploy;

constexpr std::string_view kProgram = "bench";
constexpr std::string_view kCpuInfoPath = "/proc/cpuinfo";
constexpr std::string_view kCpuModelKey = "model name";
constexpr std::string_view kFallbackDeviceName = "cpu";
constexpr std::string_view kModeOnce = "once";
constexpr std::string_view kModeServe = "serve";
constexpr std::string_view kModeChoices = "once|serve";

ArgParser make_parser() {
  ArgParser parser(
      std::string(kProgram),
      "Benchmark a TorchScript model, AOTInductor package or OpenVINO IR on preprocessed inputs "
      "(X.dat with sidecar X.json, N=1; one per model input) repeated to --batch-size; writes raw "
      "per-iteration latencies to a JSON file. With --mode serve it loads the model once and "
      "answers warm-up and timed-block requests (JSON lines) on stdin/stdout.",
      "", 0, 0);
  parser
      .add({"model", "M.pt",
            "TorchScript model (.pt), AOTInductor package (.pt2) or OpenVINO IR (.xml)", true, ""})
      .add(task_option())
      .add({"input", "X.dat",
            "preprocessed input with batch dimension 1; once per model input, in order", true, "",
            /*repeatable=*/true})
      .add({"device", std::string(kDeviceChoices), "where to run", false, "auto"})
      .add({"transform", std::string(kTransformChoices),
            "applied after loading (the 'optimized' variant)", false, std::string(kTransformNone)})
      .add(inference_precision_option())
      .add(quantized_engine_option())
      .add(torchvision_ops_option())
      .add({"batch-size", "B", "input repeated to this batch size", false, "1"})
      .add({"mode", std::string(kModeChoices),
            "once: measure and write --output; serve: answer requests on stdin", false,
            std::string(kModeOnce)})
      .add({"warmup-iters", "N", "untimed forwards per round", false, "3"})
      .add({"warmup-max-time-s", "S", "stop warming up once this many seconds are spent", false,
            "30.0"})
      .add({"min-iters", "N", "timed iterations at least (unless max-time-s is hit)", false, "10"})
      .add({"max-iters", "N", "timed iterations at most", false, "1000"})
      .add({"min-time-s", "S", "timed seconds at least (unless max-iters is hit)", false, "1.0"})
      .add({"max-time-s", "S", "stop once this many timed seconds are spent", false, "30.0"})
      .add({"rounds", "R", "independent measurement rounds", false, "1"})
      .add({"threads", "N", "intra-op CPU threads (0 = LibTorch default)", false, ""})
      .add({"interop-threads", "N", "inter-op CPU threads (0 = LibTorch default)", false, ""})
      .add({"output", "OUT.json", "result file (written atomically; --mode once)", false, ""});
  return parser;
}

struct Protocol {
  std::int64_t batch_size = 0;
  std::int64_t warmup_iters = 0;
  double warmup_max_time_s = 0.0;
  std::int64_t rounds = 0;
  StopRule rule;
};

Protocol read_protocol(const ParsedArgs& args) {
  Protocol p;
  p.batch_size = args.get_int("batch-size");
  p.warmup_iters = args.get_int("warmup-iters");
  p.warmup_max_time_s = args.get_double("warmup-max-time-s");
  p.rounds = args.get_int("rounds");
  p.rule.min_iters = args.get_int("min-iters");
  p.rule.max_iters = args.get_int("max-iters");
  p.rule.min_time_s = args.get_double("min-time-s");
  p.rule.max_time_s = args.get_double("max-time-s");
  if (p.batch_size < 1) {
    throw UsageError("--batch-size must be >= 1, got " + std::to_string(p.batch_size));
  }
  if (p.warmup_iters < 0) {
    throw UsageError("--warmup-iters must be >= 0, got " + std::to_string(p.warmup_iters));
  }
  if (!(p.warmup_max_time_s > 0.0)) {
    throw UsageError("--warmup-max-time-s must be > 0, got " + args.get("warmup-max-time-s"));
  }
  if (p.rule.min_iters < 1) {
    throw UsageError("--min-iters must be >= 1, got " + std::to_string(p.rule.min_iters));
  }
  if (p.rule.max_iters < p.rule.min_iters) {
    throw UsageError("--max-iters (" + std::to_string(p.rule.max_iters) +
                     ") must be >= --min-iters (" + std::to_string(p.rule.min_iters) + ")");
  }
  if (!(p.rule.min_time_s > 0.0) || p.rule.min_time_s > p.rule.max_time_s) {
    throw UsageError("need 0 < --min-time-s <= --max-time-s, got min-time-s=" +
                     args.get("min-time-s") + ", max-time-s=" + args.get("max-time-s"));
  }
  if (p.rounds < 1) {
    throw UsageError("--rounds must be >= 1, got " + std::to_string(p.rounds));
  }
  return p;
}

std::string cpu_name() {
  std::ifstream in{std::string(kCpuInfoPath)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(kCpuModelKey, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    if (start != std::string::npos) return line.substr(start);
  }
  return std::string(kFallbackDeviceName);
}

// The --input files, one per input of a model call of task.
std::vector<fs::path> model_inputs(const Task& task, const ParsedArgs& args) {
  const std::vector<std::string>& given = args.get_all("input");
  if (given.size() != task.inputs_per_call()) {
    throw UsageError("--task " + std::string(task.name()) + " takes " +
                     std::to_string(task.inputs_per_call()) + " --input per model call, got " +
                     std::to_string(given.size()));
  }
  std::vector<fs::path> call(given.begin(), given.end());
  check_call_inputs(task, call);
  return call;
}

// input (one sample: its N axis of size 1) repeated along N to batch samples.
torch::Tensor repeat_to_batch(const DatInput& input, const fs::path& path, std::int64_t batch) {
  const auto batch_axis = axis_index(input.layout, kBatchAxis);
  if (!batch_axis) {
    // One sample per call (a detector's image): nothing to repeat at batch size 1.
    if (batch == 1) return input.tensor;
    throw InputError("input " + quoted(path) + " has layout \"" + input.layout +
                     "\" without a batch axis " + std::string(1, kBatchAxis) +
                     ", which bench repeats to --batch-size (a task without one runs "
                     "--batch-size 1)");
  }
  const std::int64_t given = input.tensor.size(*batch_axis);
  if (given != 1) {
    throw InputError("input " + quoted(path) + " has batch dimension " + std::to_string(given) +
                     ", bench needs 1 (use --batch-size)");
  }
  std::vector<std::int64_t> repeats(static_cast<std::size_t>(input.tensor.dim()), 1);
  repeats[static_cast<std::size_t>(*batch_axis)] = batch;
  return input.tensor.repeat(repeats);
}

// The GPU's marketing name is recorded by the Python wrapper and environment.json;
// here a CUDA device is named by its index, which needs no CUDA runtime headers.
std::string device_name(const torch::Device& device) {
  return device.is_cuda() ? device_string(device) : cpu_name();
}

void run(const ParsedArgs& args) {
  const std::string mode = args.get("mode");
  if (mode != kModeOnce && mode != kModeServe) {
    throw UsageError("option --mode must be one of " + std::string(kModeChoices) + ", got '" +
                     mode + "'");
  }
  const bool serving = mode == kModeServe;
  if (!serving && !args.has("output")) {
    throw UsageError("missing required option --output (or use --mode serve)");
  }
  // The heap settings the process was started with (GLIBC_TUNABLES; see allocator.hpp).
  const json allocator = allocator_settings();
  const std::int64_t interop_threads = thread_option(args, "interop-threads");
  const std::int64_t threads = thread_option(args, "threads");
  const Protocol protocol = read_protocol(args);
  // Inter-op threads can only be set before any inter-op work starts: first torch call.
  if (interop_threads > 0) {
    at::set_num_interop_threads(static_cast<int>(interop_threads));
  }
  if (threads > 0) {
    at::set_num_threads(static_cast<int>(threads));
  }
  const fs::path model_path = args.get("model");
  const Task& task = find_task(args.get("task"));
  const std::vector<fs::path> input_paths = model_inputs(task, args);

  c10::InferenceMode inference_guard;
  torch::Device device(torch::kCPU);
  std::unique_ptr<DeployedModel> model;
  std::vector<torch::Tensor> inputs;
  std::optional<TorchvisionOps> torchvision_ops;
  try {
    device = choose_device(args.get("device"));
    for (const fs::path& input_path : input_paths) {
      inputs.push_back(repeat_to_batch(load_dat(input_path), input_path, protocol.batch_size)
                           .contiguous()
                           .to(device));
    }
    select_quantized_engine(args.get("quantized-engine"), device);
    torchvision_ops =
        load_torchvision_ops(args.get("torchvision-ops"), task.needs_torchvision_ops());
    model = load_model(model_path, device, args.get("transform"), args.get("inference-precision"));
  } catch (const std::exception& e) {
    // A serving worker tells its coordinator why it cannot start, in the protocol.
    if (serving) std::cout << json{{"ok", false}, {"error", describe(e)}}.dump() << std::endl;
    throw;
  }

  const Step step = [&] {
    with_model_context(model_path, input_paths, [&] { model->forward(inputs); });
  };
  // Keeps asynchronous GPU work inside the measured interval.
  const Synchronize sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };
  // The first forward, timed alone as the Python workers do (lazy initialisation, the fuser's
  // profiling calls), and where the model contract is checked, outside any measured interval.
  double first_call_s = 0.0;
  try {
    const auto start = std::chrono::steady_clock::now();
    with_model_context(model_path, input_paths, [&] {
      task.check_output(model->forward(inputs), protocol.batch_size, model_path);
    });
    sync();
    first_call_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } catch (const std::exception& e) {
    if (serving) std::cout << json{{"ok", false}, {"error", describe(e)}}.dump() << std::endl;
    throw;
  }
  json identity = {
      {"program", kProgram},
      {"model", model_path.string()},
      {"input", input_paths.front().string()},  // the first, for a task of several inputs
      {"device", device_string(device)},
      {"transform", args.get("transform")},
      {"inference_precision", args.get("inference-precision")},
      {"quantized_engine", args.get("quantized-engine")},
      {"torchvision_ops", torchvision_ops_report(torchvision_ops)},
      {"format", model->format()},
      {"device_name", device_name(device)},
      {"batch_size", protocol.batch_size},
      {"threads", at::get_num_threads()},
      {"interop_threads", at::get_num_interop_threads()},
      {"torch_version", kTorchVersion},
      {"allocator", allocator},
      {"first_call_s", first_call_s},
  };
  if (const auto captures = model->cuda_graph_captures()) {
    identity["cuda_graph_captures"] = *captures;
  }
  if (const auto groups = model->fusion_groups()) {
    identity["fusion_groups"] = *groups;
  }
  if (serving) {
    serve(std::cin, std::cout, identity, step, sync);
    return;
  }

  json rounds = json::array();
  for (std::int64_t round = 0; round < protocol.rounds; ++round) {
    warm_up(step, sync, protocol.warmup_iters, protocol.warmup_max_time_s);
    rounds.push_back(run_block(step, sync, protocol.rule));
  }
  json report = identity;
  report.update({
      {"warmup_iters", protocol.warmup_iters},
      {"warmup_max_time_s", protocol.warmup_max_time_s},
      {"min_iters", protocol.rule.min_iters},
      {"max_iters", protocol.rule.max_iters},
      {"min_time_s", protocol.rule.min_time_s},
      {"max_time_s", protocol.rule.max_time_s},
      {"rounds", std::move(rounds)},
  });
  write_json_atomic(args.get("output"), report);
}

}  // namespace

int main(int argc, char** argv) { return run_main(make_parser(), argc, argv, run); }
