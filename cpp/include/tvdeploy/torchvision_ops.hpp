// torchvision's operators (torchvision::nms, roi_align, ...) for models that call them, e.g. the
// detectors. They live in the torchvision wheel's operator library (_C_stable.so), which links
// libtorch_python.so and so needs libpython's symbols: it is loaded at run time, only when a model
// needs it, with those two loaded first, instead of linking every program against Python. The
// build records which torchvision and which libpython it found (cpp/cmake/torchvision_ops.py).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tvdeploy/cli.hpp"
#include "tvdeploy/report.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// --torchvision-ops: "auto" loads the build's library when the task needs it, "none" never loads
// one, any other value is the path of a torchvision operator library to load.
inline constexpr std::string_view kTorchvisionOpsAuto = "auto";
inline constexpr std::string_view kTorchvisionOpsNone = "none";

// --torchvision-ops, the same in both programs.
OptionSpec torchvision_ops_option();

struct TorchvisionOps {
  fs::path library;
  std::string version;  // torchvision's __version__ beside the library
};

// What the build found (empty where torchvision was not installed when it was configured).
fs::path built_torchvision_ops_library();
std::string built_torchvision_version();

// Loads the operator library --torchvision-ops names (for "auto": the build's, when task_needs_it)
// into this process; nothing (nullopt) for "none" or "auto" when the task does not need it.
// InputError naming the file when it is missing, of another torchvision version than the build's,
// or cannot be loaded (with the loader's reason).
std::optional<TorchvisionOps> load_torchvision_ops(const std::string& option, bool task_needs_it);

// The report's "torchvision_ops" entry: the library and version loaded, or null.
json torchvision_ops_report(const std::optional<TorchvisionOps>& loaded);

// Whether torchvision's operators are registered in this process.
bool torchvision_ops_registered();

// A hint for a model that failed to load: non-empty when its error names a torchvision operator
// and none are registered.
std::string torchvision_ops_hint(const std::string& load_error);

}  // namespace tvdeploy
