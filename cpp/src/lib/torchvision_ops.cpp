#include "tvdeploy/torchvision_ops.hpp"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <dlfcn.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

namespace {

// Set by cpp/CMakeLists.txt from cpp/cmake/torchvision_ops.py (empty: not found at configure).
constexpr std::string_view kBuiltLibrary = TVDEPLOY_TORCHVISION_OPS_LIBRARY;
constexpr std::string_view kBuiltVersion = TVDEPLOY_TORCHVISION_VERSION;
constexpr std::string_view kPythonLibrary = TVDEPLOY_PYTHON_LIBRARY;

// torchvision's operator namespace, and one operator its library registers (checked after loading).
constexpr std::string_view kOpNamespace = "torchvision::";
constexpr const char* kProbeOperator = "torchvision::nms";
// The file beside the library that holds torchvision's __version__.
constexpr std::string_view kVersionFile = "version.py";
// The Python extension torch's operator libraries link (in torch's own library folder).
constexpr std::string_view kTorchPythonLibrary = "libtorch_python.so";

std::string loader_error() {
  const char* reason = dlerror();
  return reason != nullptr ? reason : "unknown reason";
}

// Loads path with its symbols visible to libraries loaded after it (they resolve against them).
void load_global(const fs::path& path, const std::string& what) {
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    throw InputError("cannot load " + what + " " + quoted(path) + ": " + loader_error());
  }
}

// torchvision's __version__ from the version.py beside its operator library.
std::string torchvision_version_beside(const fs::path& library) {
  const fs::path version_file = library.parent_path() / kVersionFile;
  std::ifstream stream(version_file);
  if (!stream) {
    throw InputError("torchvision operator library " + quoted(library) + " has no " +
                     std::string(kVersionFile) + " beside it: not a torchvision package folder");
  }
  std::stringstream text;
  text << stream.rdbuf();
  static const std::regex version_line(R"(__version__\s*=\s*['"]([^'"]+)['"])");
  std::smatch match;
  const std::string content = text.str();
  if (!std::regex_search(content, match, version_line)) {
    throw InputError(quoted(version_file) + " holds no __version__");
  }
  return match[1].str();
}

// torch's library folder: where the libtorch this program runs with was loaded from.
fs::path torch_library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&at::globalContext), &info) == 0 ||
      info.dli_fname == nullptr) {
    throw InputError("cannot tell where LibTorch was loaded from (dladdr failed)");
  }
  return fs::path(info.dli_fname).parent_path();
}

}  // namespace

OptionSpec torchvision_ops_option() {
  return {"torchvision-ops", "auto|none|PATH",
          "torchvision's operator library (_C_stable.so) for models that call torchvision::nms "
          "and the like: auto = the build's (" +
              (kBuiltLibrary.empty() ? std::string("none found") : std::string(kBuiltLibrary)) +
              ") when the task needs it",
          false, std::string(kTorchvisionOpsAuto)};
}

fs::path built_torchvision_ops_library() { return fs::path(kBuiltLibrary); }

std::string built_torchvision_version() { return std::string(kBuiltVersion); }

bool torchvision_ops_registered() {
  return c10::Dispatcher::singleton().findSchema({kProbeOperator, ""}).has_value();
}

std::optional<TorchvisionOps> load_torchvision_ops(const std::string& option, bool task_needs_it) {
  if (option == kTorchvisionOpsNone) return std::nullopt;
  const bool automatic = option == kTorchvisionOpsAuto;
  if (automatic && !task_needs_it) return std::nullopt;
  if (automatic && kBuiltLibrary.empty()) {
    throw InputError(
        "this task needs torchvision's operators, but no torchvision was installed when the "
        "programs were built; install it and rebuild, or pass --torchvision-ops PATH");
  }
  const fs::path library = automatic ? fs::path(kBuiltLibrary) : fs::path(option);
  if (!fs::is_regular_file(library)) {
    throw InputError("torchvision operator library " + quoted(library) +
                     " does not exist or is not a regular file");
  }
  TorchvisionOps loaded{fs::absolute(library), torchvision_version_beside(library)};
  if (!kBuiltVersion.empty() && loaded.version != kBuiltVersion) {
    throw InputError("torchvision operator library " + quoted(library) + " is torchvision " +
                     loaded.version + ", but the programs were built with torchvision " +
                     std::string(kBuiltVersion) + " (and its torch): rebuild them");
  }
  if (kPythonLibrary.empty()) {
    throw InputError(
        "torchvision's operator library needs libpython's symbols, but the Python these "
        "programs were built with has no shared libpython");
  }
  // The operator library links libtorch_python.so (found only in torch's folder, which its own
  // search path does not name), and that library links against libpython without listing it.
  load_global(fs::path(kPythonLibrary), "libpython");
  load_global(torch_library_dir() / kTorchPythonLibrary, "torch's Python library");
  load_global(loaded.library, "torchvision operator library");
  if (!torchvision_ops_registered()) {
    throw InputError("torchvision operator library " + quoted(library) +
                     " loaded but registered no " + kProbeOperator);
  }
  return loaded;
}

json torchvision_ops_report(const std::optional<TorchvisionOps>& loaded) {
  if (!loaded) return nullptr;
  return {{"library", loaded->library.string()}, {"version", loaded->version}};
}

std::string torchvision_ops_hint(const std::string& load_error) {
  if (load_error.find(kOpNamespace) == std::string::npos || torchvision_ops_registered()) return "";
  return " (the model calls torchvision's operators: pass --torchvision-ops with the path of "
         "torchvision's operator library, this build's: " +
         (kBuiltLibrary.empty() ? std::string("none found") : std::string(kBuiltLibrary)) + ")";
}

}  // namespace tvdeploy
