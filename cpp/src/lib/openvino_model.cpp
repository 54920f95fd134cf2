// OpenVINO IR models (openvino-cpp): the CPU plugin compiled with the settings of the Python
// harness (tvdeploy.harnesses.openvino), each read back after compiling. Input i of a call is the
// IR's input i; its outputs come back as one Tensor, or a Tuple of them in the IR's order.
#include <cstddef>
#include <memory>
#include <openvino/openvino.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tvdeploy/model.hpp"

namespace tvdeploy {

namespace {

constexpr const char* kOpenVinoDevice = "CPU";

// The element type of each --inference-precision choice (kInferencePrecisionChoices).
ov::element::Type element_type(const std::string& precision) {
  if (precision == "bf16") return ov::element::bf16;
  if (precision == "f16") return ov::element::f16;
  return ov::element::f32;
}

// The torch type of an output's element type: a detector's IR returns its labels as i64 beside
// float32 boxes and scores.
torch::ScalarType scalar_type(const ov::element::Type& type, const fs::path& path) {
  if (type == ov::element::f32) return torch::kFloat32;
  if (type == ov::element::i64) return torch::kInt64;
  if (type == ov::element::i32) return torch::kInt32;
  if (type == ov::element::f16) return torch::kFloat16;
  if (type == ov::element::bf16) return torch::kBFloat16;
  if (type == ov::element::u8) return torch::kUInt8;
  if (type == ov::element::boolean) return torch::kBool;
  throw OutputError("the OpenVINO IR " + quoted(path) + " returns an output of element type " +
                    type.get_type_name() + ", which the programs do not read");
}

class OpenVinoModel final : public DeployedModel {
 public:
  OpenVinoModel(const fs::path& path, int threads, const std::string& inference_precision)
      : path_(path) {
    ov::Core core;
    // The asked precision (float32 unless a deployment asks otherwise: on an avx512_bf16 CPU
    // the plugin would pick bf16), the programs' thread count, one stream for latency, and no
    // pinning: the workers of a comparison take turns on the same cores, and pinned threads
    // would fight the others'.
    const ov::element::Type asked = element_type(inference_precision);
    compiled_ =
        core.compile_model(core.read_model(path.string()), kOpenVinoDevice,
                           ov::hint::inference_precision(asked), ov::inference_num_threads(threads),
                           ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY),
                           ov::num_streams(1), ov::hint::enable_cpu_pinning(false));
    const ov::element::Type precision = compiled_.get_property(ov::hint::inference_precision);
    if (precision != asked) {
      throw DeviceError("OpenVINO compiled " + quoted(path) + " for " + precision.get_type_name() +
                        ", not " + inference_precision +
                        " (the CPU plugin falls back where the CPU lacks the precision)");
    }
    request_ = compiled_.create_infer_request();
    // Counted once: outputs() and inputs() build a vector on every call, inside bench's clock.
    input_count_ = compiled_.inputs().size();
    output_count_ = compiled_.outputs().size();
  }

  c10::IValue forward(const std::vector<torch::Tensor>& inputs) override {
    if (inputs.size() != input_count_) {
      throw InputError("the OpenVINO IR " + quoted(path_) + " takes " +
                       std::to_string(input_count_) + " input(s), got " +
                       std::to_string(inputs.size()));
    }
    // The request reads each tensor's memory in place: no copy of the inputs, which stay alive
    // (contiguous) until infer() returns.
    std::vector<torch::Tensor> contiguous;
    contiguous.reserve(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const torch::Tensor& input = contiguous.emplace_back(inputs[i].contiguous());
      const std::vector<std::int64_t> sizes = input.sizes().vec();
      request_.set_input_tensor(i,
                                ov::Tensor(ov::element::f32, ov::Shape(sizes.begin(), sizes.end()),
                                           input.data_ptr<float>()));
    }
    request_.infer();
    if (output_count_ == 1) return output_tensor(0);
    std::vector<c10::IValue> outputs;
    outputs.reserve(output_count_);
    for (std::size_t i = 0; i < output_count_; ++i) outputs.emplace_back(output_tensor(i));
    return c10::ivalue::Tuple::create(std::move(outputs));
  }

  std::string format() const override { return "openvino"; }

 private:
  // A copy of output i: the request reuses its output memory on the next call.
  torch::Tensor output_tensor(std::size_t i) {
    ov::Tensor output = request_.get_output_tensor(i);
    const ov::Shape shape = output.get_shape();
    const std::vector<std::int64_t> sizes(shape.begin(), shape.end());
    return torch::from_blob(output.data(), sizes, scalar_type(output.get_element_type(), path_))
        .clone();
  }

  fs::path path_;
  ov::CompiledModel compiled_;
  ov::InferRequest request_;
  std::size_t input_count_ = 0;
  std::size_t output_count_ = 0;
};

}  // namespace

std::unique_ptr<DeployedModel> load_openvino_model(const fs::path& path,
                                                   const torch::Device& device, int threads,
                                                   const std::string& inference_precision) {
  if (!device.is_cpu()) {
    throw UsageError("the OpenVINO IR " + quoted(path) + " runs on the CPU only, not on " +
                     device.str());
  }
  try {
    return std::make_unique<OpenVinoModel>(path, threads, inference_precision);
  } catch (const ov::Exception& e) {
    throw InputError("cannot load OpenVINO IR " + quoted(path) + ": " + e.what());
  }
}

}  // namespace tvdeploy
