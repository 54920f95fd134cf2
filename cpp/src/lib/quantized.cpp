#include "tvdeploy/quantized.hpp"

#include <ATen/Context.h>

#include <algorithm>
#include <array>
#include <utility>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

namespace {

// The --quantized-engine names (but "none") and LibTorch's engines.
constexpr std::array<std::pair<std::string_view, at::QEngine>, 4> kEngines{{
    {"fbgemm", at::QEngine::FBGEMM},
    {"qnnpack", at::QEngine::QNNPACK},
    {"x86", at::QEngine::X86},
    {"onednn", at::QEngine::ONEDNN},
}};

}  // namespace

OptionSpec quantized_engine_option() {
  return {"quantized-engine", std::string(kQuantizedEngineChoices),
          "an eager-quantized model's engine, selected before it loads (CPU only)", false,
          std::string(kQuantizedEngineNone)};
}

void select_quantized_engine(const std::string& engine, const torch::Device& device) {
  if (engine == kQuantizedEngineNone) return;
  const auto* known = std::find_if(kEngines.begin(), kEngines.end(),
                                   [&](const auto& entry) { return entry.first == engine; });
  if (known == kEngines.end()) {
    throw UsageError("option --quantized-engine must be one of " +
                     std::string(kQuantizedEngineChoices) + ", got '" + engine + "'");
  }
  if (!device.is_cpu()) {
    throw UsageError("option --quantized-engine " + engine +
                     ": an eager-quantized model runs on the CPU only, not on " + device.str());
  }
  const std::vector<at::QEngine>& supported = at::globalContext().supportedQEngines();
  if (std::find(supported.begin(), supported.end(), known->second) == supported.end()) {
    throw InputError("this LibTorch build lacks the quantized engine '" + engine + "'");
  }
  at::globalContext().setQEngine(known->second);
}

}  // namespace tvdeploy
