// Deployed models (TorchScript with the --transform applied, AOTInductor packages or OpenVINO
// IR), whatever task they serve: loading, one call on a list of input tensors, and error context
// for running them. What a model must return is the task's business (task.hpp).
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tvdeploy/cli.hpp"
#include "tvdeploy/errors.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// What to do to a module after loading it. optimize_for_inference output (MKLDNN
// prepacked weights on CPU) cannot be saved and reloaded, so the "optimized" variant
// is a frozen file that every harness optimises the same way at load time.
// The same names as tvdeploy.registry.LOAD_TRANSFORMS (checked by tests/cpp/test_cpp_cli.py).
inline constexpr std::string_view kTransformNone = "none";
inline constexpr std::string_view kTransformOptimize = "optimize_for_inference";
// TorchScript's oneDNN Graph (LLGA) fuser, switched on process-wide. The profiling executor
// fuses a graph for an input shape only after profiling it, so a new shape first gets those
// profiling calls: every output returned comes from the fused graph.
inline constexpr std::string_view kTransformFuse = "onednn_fusion";
// Each input shape captured once as a CUDA graph and replayed (TorchScript and AOTInductor;
// src/lib/cuda_graph.cpp): at small batch the GPU otherwise waits on kernel launches.
inline constexpr std::string_view kTransformCudaGraph = "cuda_graph";
inline constexpr std::string_view kTransformChoices =
    "none|optimize_for_inference|onednn_fusion|cuda_graph";

// UsageError unless transform is one of kTransformChoices.
void check_transform(const std::string& transform);

// The precision OpenVINO's CPU plugin compiles an IR for (its INFERENCE_PRECISION_HINT): float32
// by default (the plugin would pick bf16 on a CPU with native bf16), bf16 or f16 where a
// deployment asks for it. Checked after compiling: the plugin falls back to f32 silently where
// the CPU lacks the precision, which would pass a float32 timing off as a bf16 one.
inline constexpr std::string_view kInferencePrecisionF32 = "f32";
inline constexpr std::string_view kInferencePrecisionChoices = "f32|bf16|f16";
OptionSpec inference_precision_option();

// AOTInductor packages and OpenVINO IR are recognised by their extensions; anything else is
// TorchScript.
inline constexpr std::string_view kAotiPackageExtension = ".pt2";
inline constexpr std::string_view kOpenVinoExtension = ".xml";

// The shapes of one call's inputs, in order: what the fuser profiles and CUDA graphs capture per.
using InputShapes = std::vector<std::vector<std::int64_t>>;
InputShapes shapes_of(const std::vector<torch::Tensor>& inputs);

// A deployed model, whatever format it was loaded from: one call on its inputs (a batch each, in
// the order of the model's arguments), its output out: a Tensor, or a Tuple of several.
class DeployedModel {
 public:
  virtual ~DeployedModel() = default;
  virtual c10::IValue forward(const std::vector<torch::Tensor>& inputs) = 0;
  // "torchscript", "aoti" or "openvino", for the programs' reports.
  virtual std::string format() const = 0;
  // With the oneDNN Graph fuser: the fusion groups in the graph last run (0: it fused nothing).
  virtual std::optional<std::int64_t> fusion_groups() const { return std::nullopt; }
  // Replayed as CUDA graphs: the input shapes captured so far (one per tuple of input shapes).
  virtual std::optional<std::int64_t> cuda_graph_captures() const { return std::nullopt; }
};

// Loads the model at path onto device: an AOTInductor package (.pt2, compiled for that device;
// transform "none" or "cuda_graph"), an OpenVINO IR (.xml, CPU only, run on
// at::get_num_threads() threads, compiled for inference_precision; transform "none") or a
// TorchScript file in eval mode with transform applied. An inference precision other than f32
// applies to OpenVINO IR only.
// InputError if it cannot.
std::unique_ptr<DeployedModel> load_model(
    const fs::path& path, const torch::Device& device,
    const std::string& transform = std::string(kTransformNone),
    const std::string& inference_precision = std::string(kInferencePrecisionF32));

// inner replayed as CUDA graphs on device (src/lib/cuda_graph.cpp). UsageError when device is
// not CUDA, or when LibTorch was built without CUDA.
std::unique_ptr<DeployedModel> replay_as_cuda_graphs(std::unique_ptr<DeployedModel> inner,
                                                     const torch::Device& device);

// The OpenVINO part of load_model (src/lib/openvino_model.cpp).
std::unique_ptr<DeployedModel> load_openvino_model(const fs::path& path,
                                                   const torch::Device& device, int threads,
                                                   const std::string& inference_precision);

// How error messages name a model call's input files: "input 'a.dat'" or
// "inputs 'a.dat', 'b.dat'".
std::string describe_inputs(const std::vector<fs::path>& inputs);

// Runs body() (model execution), naming the model and its inputs in LibTorch errors
// (c10::Error, or std::runtime_error from the TorchScript interpreter).
template <typename Body>
decltype(auto) with_model_context(const fs::path& model, const std::vector<fs::path>& inputs,
                                  Body&& body) {
  try {
    return body();
  } catch (const InputError&) {
    throw;  // already names what is at fault
  } catch (const std::exception& e) {
    throw InputError("running model " + quoted(model) + " on " + describe_inputs(inputs) +
                     " failed: " + describe(e));
  }
}

}  // namespace tvdeploy
