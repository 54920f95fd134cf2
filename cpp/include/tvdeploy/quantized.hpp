// Eager-quantized models (torchvision.models.quantization): the quantized-operator engine a
// TorchScript file's packed weights are unpacked for when it loads. LibTorch unpacks them for the
// engine selected at that moment (and fails with NoQEngine where none is, pytorch#81287), so the
// engine the weights were quantized for is selected before the model loads.
#pragma once

#include <torch/script.h>

#include <string>
#include <string_view>

#include "tvdeploy/cli.hpp"

namespace tvdeploy {

// "none" (a float model: nothing selected) and the same engine names as
// tvdeploy.registry.QUANTIZED_ENGINES (checked by tests/cpp/test_cpp_cli.py).
inline constexpr std::string_view kQuantizedEngineNone = "none";
inline constexpr std::string_view kQuantizedEngineChoices = "none|fbgemm|qnnpack|x86|onednn";

// --quantized-engine, the same in both programs.
OptionSpec quantized_engine_option();

// Selects engine for this process before a model loads. UsageError for a name not in
// kQuantizedEngineChoices, or an engine on a device other than the CPU (quantized kernels are CPU
// kernels); InputError when this LibTorch build lacks the engine.
void select_quantized_engine(const std::string& engine, const torch::Device& device);

}  // namespace tvdeploy
