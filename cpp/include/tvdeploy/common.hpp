// Shared pieces of the tvdeploy C++ programs (infer, bench): input loading,
// device choice, the benchmark stopping rule, option parsing and JSON output.
#pragma once

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/headeronly/version.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace tvdeploy {

namespace fs = std::filesystem;
// Insertion-ordered so reports read in the documented key order.
using json = nlohmann::ordered_json;

// ---------------------------------------------------------------- constants

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;

inline constexpr std::string_view kTorchVersion = TORCH_VERSION;
inline constexpr std::string_view kSidecarSuffix = ".json";
inline constexpr std::string_view kExpectedDtype = "float32";
inline constexpr std::string_view kExpectedLayout = "NCHW";
inline constexpr std::string_view kExpectedByteOrder = "little";
inline constexpr std::size_t kImageRank = 4;  // N, C, H, W
inline constexpr int kJsonIndent = 2;
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// ------------------------------------------------------------------- errors

// Bad command line: reported with the usage text, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Unusable input file (data, sidecar, labels, model): exit code 1.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Requested device cannot be used: exit code 1.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writing results failed: exit code 1.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// c10::Error::what() carries a C++ backtrace; users want the message only.
inline std::string describe(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

// ------------------------------------------------------------- option parsing

struct OptionSpec {
  std::string name;     // without the leading "--"
  std::string metavar;  // e.g. "PATH"; shown in the usage text
  std::string help;
  bool required = false;
  std::string default_value;  // empty: no default
};

class ParsedArgs {
 public:
  bool help_requested = false;
  std::vector<std::string> positionals;

  bool has(const std::string& name) const { return values_.count(name) != 0; }

  const std::string& get(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      throw UsageError("option --" + name + " is required");
    }
    return it->second;
  }

  std::int64_t get_int(const std::string& name) const {
    const std::string& text = get(name);
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) {
      throw UsageError("option --" + name + " expects an integer, got '" + text + "'");
    }
    return value;
  }

  double get_double(const std::string& name) const {
    const std::string& text = get(name);
    double value = 0.0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty() || !std::isfinite(value)) {
      throw UsageError("option --" + name + " expects a finite number, got '" + text + "'");
    }
    return value;
  }

  void set(const std::string& name, std::string value) { values_[name] = std::move(value); }

 private:
  std::map<std::string, std::string> values_;
};

// Accepts "--name value" and "--name=value"; every option takes a value except --help.
class ArgParser {
 public:
  ArgParser(std::string program, std::string summary, std::string positional_metavar,
            std::size_t min_positionals, std::size_t max_positionals)
      : program_(std::move(program)),
        summary_(std::move(summary)),
        positional_metavar_(std::move(positional_metavar)),
        min_positionals_(min_positionals),
        max_positionals_(max_positionals) {}

  ArgParser& add(OptionSpec spec) {
    specs_.push_back(std::move(spec));
    return *this;
  }

  std::string usage() const {
    std::ostringstream out;
    out << "usage: " << program_;
    for (const auto& s : specs_) {
      const std::string item = "--" + s.name + " " + s.metavar;
      out << " " << (s.required ? item : "[" + item + "]");
    }
    if (max_positionals_ > 0) {
      out << " " << positional_metavar_;
      if (max_positionals_ > 1) out << " [" << positional_metavar_ << " ...]";
    }
    out << "\n\n" << summary_ << "\n\noptions:\n  --help\n      show this message and exit\n";
    for (const auto& s : specs_) {
      out << "  --" << s.name << " " << s.metavar << "\n      " << s.help;
      if (s.required) out << " (required)";
      if (!s.default_value.empty()) out << " (default: " << s.default_value << ")";
      out << "\n";
    }
    return out.str();
  }

  ParsedArgs parse(int argc, const char* const* argv) const {
    ParsedArgs result;
    bool only_positionals = false;  // after "--"
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (only_positionals || arg.size() < 2 || arg.rfind("--", 0) != 0) {
        if (!only_positionals && arg.size() > 1 && arg[0] == '-') {
          throw UsageError("unknown option '" + arg + "'");
        }
        result.positionals.push_back(arg);
        continue;
      }
      if (arg == "--") {
        only_positionals = true;
        continue;
      }
      if (arg == "--help") {
        result.help_requested = true;
        return result;
      }
      std::string name = arg.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      if (find(name) == nullptr) {
        throw UsageError("unknown option '--" + name + "'");
      }
      if (!value) {
        if (i + 1 >= argc) {
          throw UsageError("option --" + name + " needs a value");
        }
        value = argv[++i];
      }
      if (result.has(name)) {
        throw UsageError("option --" + name + " given more than once");
      }
      result.set(name, *value);
    }
    for (const auto& s : specs_) {
      if (!result.has(s.name)) {
        if (s.required) throw UsageError("missing required option --" + s.name);
        if (!s.default_value.empty()) result.set(s.name, s.default_value);
      }
    }
    if (result.positionals.size() < min_positionals_) {
      throw UsageError("expected at least " + std::to_string(min_positionals_) + " " +
                       positional_metavar_ + " argument(s)");
    }
    if (result.positionals.size() > max_positionals_) {
      throw UsageError("unexpected argument '" + result.positionals[max_positionals_] + "'");
    }
    return result;
  }

 private:
  const OptionSpec* find(const std::string& name) const {
    for (const auto& s : specs_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  std::string program_;
  std::string summary_;
  std::string positional_metavar_;
  std::size_t min_positionals_;
  std::size_t max_positionals_;
  std::vector<OptionSpec> specs_;
};

// Runs body(); maps --help / UsageError / runtime errors to output and exit codes.
template <typename Body>
int run_main(const ArgParser& parser, int argc, const char* const* argv, Body&& body) {
  try {
    ParsedArgs args = parser.parse(argc, argv);
    if (args.help_requested) {
      std::cout << parser.usage();
      return kExitOk;
    }
    body(args);
    return kExitOk;
  } catch (const UsageError& e) {
    std::cerr << "error: " << e.what() << "\n\n" << parser.usage();
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << describe(e) << "\n";
    return kExitRuntimeError;
  } catch (...) {
    std::cerr << "error: unknown exception\n";
    return kExitRuntimeError;
  }
}

// Thread options: absent or 0 keeps LibTorch's default; negative is a usage error.
inline std::int64_t thread_option(const ParsedArgs& args, const std::string& name) {
  if (!args.has(name)) return 0;
  const std::int64_t n = args.get_int(name);
  if (n < 0) {
    throw UsageError("option --" + name + " must be >= 0 (0 = library default), got " +
                     std::to_string(n));
  }
  if (n > std::numeric_limits<int>::max()) {
    throw UsageError("option --" + name + " is too large: " + std::to_string(n));
  }
  return n;
}

// ------------------------------------------------------------------- device

inline constexpr std::string_view kDeviceChoices = "cpu|cuda|auto";

inline torch::Device choose_device(const std::string& requested) {
  if (requested == "cpu") return torch::Device(torch::kCPU);
  if (requested == "cuda") {
    if (!torch::cuda::is_available()) {
      throw DeviceError("device 'cuda' requested but no CUDA device is available");
    }
    return torch::Device(torch::kCUDA);
  }
  if (requested == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  }
  throw UsageError("option --device must be one of " + std::string(kDeviceChoices) + ", got '" +
                   requested + "'");
}

inline std::string device_string(const torch::Device& device) {
  return device.is_cuda() ? "cuda" : "cpu";
}

// ------------------------------------------------------------- input loading

inline fs::path sidecar_path(const fs::path& dat) {
  fs::path sidecar = dat;
  sidecar.replace_extension(kSidecarSuffix);
  return sidecar;
}

inline json read_json_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot open " + what + " " + quoted(path) +
                     (fs::exists(path) ? "" : " (file does not exist)"));
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError("malformed JSON in " + what + " " + quoted(path) + ": " + e.what());
  }
}

// Checked product of the shape times the element size, in bytes.
inline std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape,
                                        std::uint64_t element_size, const fs::path& sidecar) {
  std::uint64_t total = element_size;
  for (std::int64_t dim : shape) {
    const auto d = static_cast<std::uint64_t>(dim);
    if (total > std::numeric_limits<std::uint64_t>::max() / d) {
      throw InputError("shape in " + quoted(sidecar) + " is too large (byte count overflows)");
    }
    total *= d;
  }
  return total;
}

struct ImageMeta {
  std::vector<std::int64_t> shape;  // NCHW
  std::uint64_t byte_count = 0;
};

inline ImageMeta read_sidecar(const fs::path& sidecar) {
  const json meta = read_json_file(sidecar, "sidecar");
  if (!meta.is_object()) {
    throw InputError("sidecar " + quoted(sidecar) + " must contain a JSON object");
  }
  auto require_string = [&](const char* key, std::string_view expected, bool required) {
    if (!meta.contains(key)) {
      if (required) throw InputError("sidecar " + quoted(sidecar) + " lacks \"" + key + "\"");
      return;
    }
    const json& v = meta.at(key);
    if (!v.is_string() || v.get<std::string>() != expected) {
      throw InputError("sidecar " + quoted(sidecar) + ": \"" + key + "\" is " + v.dump() +
                       ", only \"" + std::string(expected) + "\" is supported");
    }
  };
  require_string("dtype", kExpectedDtype, true);
  require_string("layout", kExpectedLayout, false);
  require_string("byte_order", kExpectedByteOrder, false);
  static_assert(std::endian::native == std::endian::little,
                "the .dat format is little-endian; big-endian hosts need byte swapping");

  if (!meta.contains("shape") || !meta.at("shape").is_array() ||
      meta.at("shape").size() != kImageRank) {
    throw InputError("sidecar " + quoted(sidecar) + ": \"shape\" must be a list of " +
                     std::to_string(kImageRank) + " positive integers (NCHW), got " +
                     (meta.contains("shape") ? meta.at("shape").dump() : std::string("nothing")));
  }
  ImageMeta out;
  for (const json& dim : meta.at("shape")) {
    if (!dim.is_number_integer() || dim.get<std::int64_t>() <= 0) {
      throw InputError("sidecar " + quoted(sidecar) +
                       ": \"shape\" entries must be positive integers, got " +
                       meta.at("shape").dump());
    }
    out.shape.push_back(dim.get<std::int64_t>());
  }
  out.byte_count = checked_byte_count(out.shape, sizeof(float), sidecar);
  return out;
}

// Loads X.dat (raw little-endian float32, NCHW) described by its sidecar X.json.
inline torch::Tensor load_dat(const fs::path& dat) {
  const fs::path sidecar = sidecar_path(dat);
  if (!fs::is_regular_file(dat)) {
    throw InputError("input " + quoted(dat) + " does not exist or is not a regular file");
  }
  if (!fs::exists(sidecar)) {
    throw InputError("sidecar " + quoted(sidecar) + " for input " + quoted(dat) +
                     " does not exist");
  }
  const ImageMeta meta = read_sidecar(sidecar);

  std::error_code ec;
  const std::uintmax_t actual = fs::file_size(dat, ec);
  if (ec) {
    throw InputError("cannot get size of " + quoted(dat) + ": " + ec.message());
  }
  if (actual != meta.byte_count) {
    throw InputError("size mismatch for " + quoted(dat) + ": file has " + std::to_string(actual) +
                     " bytes but the shape in " + quoted(sidecar) + " needs " +
                     std::to_string(meta.byte_count) + " bytes");
  }
  if (meta.byte_count > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max())) {
    throw InputError("input " + quoted(dat) + " is too large to read");
  }

  // The tensor owns exactly byte_count bytes, so reading byte_count cannot overrun it.
  torch::Tensor tensor = torch::empty(meta.shape, torch::TensorOptions().dtype(torch::kFloat32));
  std::ifstream in(dat, std::ios::binary);
  if (!in) {
    throw InputError("cannot open input " + quoted(dat));
  }
  const auto wanted = static_cast<std::streamsize>(meta.byte_count);
  in.read(reinterpret_cast<char*>(tensor.data_ptr<float>()), wanted);
  if (in.gcount() != wanted) {
    throw InputError("short read from " + quoted(dat) + ": got " + std::to_string(in.gcount()) +
                     " of " + std::to_string(wanted) + " bytes");
  }
  return tensor;
}

// One label per line (UTF-8); a trailing newline does not add a label.
inline std::vector<std::string> load_labels(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot open labels file " + quoted(path));
  }
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    if (labels.empty() && line.rfind(kUtf8Bom, 0) == 0) line.erase(0, kUtf8Bom.size());
    if (!line.empty() && line.back() == '\r') line.pop_back();
    try {
      (void)json(line).dump();  // validates UTF-8 now rather than when writing output
    } catch (const json::exception&) {
      throw InputError("labels file " + quoted(path) + " line " +
                       std::to_string(labels.size() + 1) + " is not valid UTF-8");
    }
    labels.push_back(std::move(line));
  }
  if (in.bad()) {
    throw InputError("error reading labels file " + quoted(path));
  }
  if (labels.empty()) {
    throw InputError("labels file " + quoted(path) + " is empty");
  }
  return labels;
}

// What to do to a module after loading it. optimize_for_inference output (MKLDNN
// prepacked weights on CPU) cannot be saved and reloaded, so the "optimized" variant
// is a frozen file that every harness optimises the same way at load time.
inline constexpr std::string_view kTransformNone = "none";
inline constexpr std::string_view kTransformOptimize = "optimize_for_inference";
inline constexpr std::string_view kTransformChoices = "none|optimize_for_inference";

inline void check_transform(const std::string& transform) {
  if (transform != kTransformNone && transform != kTransformOptimize) {
    throw UsageError("option --transform must be one of " + std::string(kTransformChoices) +
                     ", got '" + transform + "'");
  }
}

inline torch::jit::Module load_model(const fs::path& path, const torch::Device& device,
                                     const std::string& transform = std::string(kTransformNone)) {
  check_transform(transform);
  if (!fs::is_regular_file(path)) {
    throw InputError("model " + quoted(path) + " does not exist or is not a regular file");
  }
  try {
    torch::jit::Module module = torch::jit::load(path.string(), device);
    module.eval();
    if (transform == kTransformOptimize) {
      module = torch::jit::optimize_for_inference(module);
    }
    return module;
  } catch (const c10::Error& e) {
    throw InputError("cannot load TorchScript model " + quoted(path) + ": " +
                     e.what_without_backtrace());
  }
}

// The model contract: forward returns a [N, C] tensor with N = batch size.
inline torch::Tensor require_logits(const c10::IValue& output, std::int64_t batch,
                                    const fs::path& model) {
  if (!output.isTensor()) {
    throw InputError("model " + quoted(model) + " returned a " + output.tagKind() +
                     ", expected a single Tensor of logits with shape [N, C]");
  }
  torch::Tensor logits = output.toTensor();
  if (logits.dim() != 2 || logits.size(0) != batch) {
    throw InputError("model " + quoted(model) + " returned a tensor of shape " +
                     c10::str(logits.sizes()) + ", expected [" + std::to_string(batch) + ", C]");
  }
  return logits;
}

// Runs body() (model execution), naming the model and input in LibTorch errors
// (c10::Error, or std::runtime_error from the TorchScript interpreter).
template <typename Body>
decltype(auto) with_model_context(const fs::path& model, const fs::path& input, Body&& body) {
  try {
    return body();
  } catch (const InputError&) {
    throw;  // already names what is at fault
  } catch (const std::exception& e) {
    throw InputError("running model " + quoted(model) + " on input " + quoted(input) +
                     " failed: " + describe(e));
  }
}

// ------------------------------------------------------------ timing, stopping

using Clock = std::chrono::steady_clock;

inline double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

inline constexpr double kMillisPerSecond = 1000.0;

enum class StopReason { kContinue, kMaxIters, kMaxTime, kMinReached };

struct StopRule {
  std::int64_t min_iters = 0;
  std::int64_t max_iters = 0;
  double min_time_s = 0.0;
  double max_time_s = 0.0;
};

// Decision after the n-th timed iteration, elapsed_s = sum of timed latencies.
// Must stay identical to the Python harness's rule.
constexpr StopReason stop_reason(const StopRule& rule, std::int64_t n, double elapsed_s) noexcept {
  if (n >= rule.max_iters) return StopReason::kMaxIters;
  if (elapsed_s >= rule.max_time_s) return StopReason::kMaxTime;
  if (n >= rule.min_iters && elapsed_s >= rule.min_time_s) return StopReason::kMinReached;
  return StopReason::kContinue;
}

constexpr std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::kMaxIters:
      return "max_iters";
    case StopReason::kMaxTime:
      return "max_time";
    case StopReason::kMinReached:
      return "min_reached";
    case StopReason::kContinue:
      break;
  }
  return "continue";
}

// Compile-time checks of the rule's precedence.
static_assert(stop_reason({10, 20, 1.0, 5.0}, 20, 9.0) == StopReason::kMaxIters);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 3, 5.0) == StopReason::kMaxTime);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 10, 1.0) == StopReason::kMinReached);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 9, 2.0) == StopReason::kContinue);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 12, 0.5) == StopReason::kContinue);

// ------------------------------------------------------------------- output

// Writes <out>.tmp.<pid> and renames it over <out>, so readers never see a partial file.
inline void write_json_atomic(const fs::path& out, const json& value) {
  std::string text;
  try {
    text = value.dump(kJsonIndent);
  } catch (const json::exception& e) {
    throw OutputError("cannot serialise results for " + quoted(out) + ": " + e.what());
  }
  text.push_back('\n');

  fs::path tmp = out;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) {
      throw OutputError("cannot create " + quoted(tmp) + " (does the directory of " + quoted(out) +
                        " exist and is it writable?)");
    }
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    file.flush();
    if (!file) {
      file.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw OutputError("failed writing " + quoted(tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw OutputError("cannot rename " + quoted(tmp) + " to " + quoted(out) + ": " + ec.message());
  }
}

}  // namespace tvdeploy
