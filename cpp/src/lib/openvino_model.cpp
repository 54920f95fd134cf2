// The OpenVINO IR classifier (openvino-cpp): the CPU plugin compiled with the settings of the
// Python harness (tvdeploy.harnesses.openvino), each read back after compiling.
#include <memory>
#include <openvino/openvino.hpp>
#include <string>
#include <vector>

#include "tvdeploy/model.hpp"

namespace tvdeploy {

namespace {

constexpr const char* kOpenVinoDevice = "CPU";

class OpenVinoClassifier final : public Classifier {
 public:
  OpenVinoClassifier(const fs::path& path, int threads) {
    ov::Core core;
    // Float32 (on an avx512_bf16 CPU the plugin would pick bf16), the programs' thread count,
    // one stream for latency, and no pinning: the workers of a comparison take turns on the
    // same cores, and pinned threads would fight the others'.
    compiled_ = core.compile_model(core.read_model(path.string()), kOpenVinoDevice,
                                   ov::hint::inference_precision(ov::element::f32),
                                   ov::inference_num_threads(threads),
                                   ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY),
                                   ov::num_streams(1), ov::hint::enable_cpu_pinning(false));
    const ov::element::Type precision = compiled_.get_property(ov::hint::inference_precision);
    if (precision != ov::element::f32) {
      throw InputError("OpenVINO compiled " + quoted(path) + " for " + precision.get_type_name() +
                       ", not f32");
    }
    request_ = compiled_.create_infer_request();
  }

  c10::IValue forward(const torch::Tensor& batch) override {
    const torch::Tensor input = batch.contiguous();
    const std::vector<std::int64_t> sizes = input.sizes().vec();
    // The request reads the tensor's memory in place: no copy of the input.
    request_.set_input_tensor(ov::Tensor(ov::element::f32, ov::Shape(sizes.begin(), sizes.end()),
                                         input.data_ptr<float>()));
    request_.infer();
    ov::Tensor output = request_.get_output_tensor();
    const ov::Shape shape = output.get_shape();
    const std::vector<std::int64_t> out_sizes(shape.begin(), shape.end());
    // A copy: the request reuses its output memory on the next call.
    return torch::from_blob(output.data<float>(), out_sizes, torch::kFloat32).clone();
  }

  std::string format() const override { return "openvino"; }

 private:
  ov::CompiledModel compiled_;
  ov::InferRequest request_;
};

}  // namespace

std::unique_ptr<Classifier> load_openvino_classifier(const fs::path& path,
                                                     const torch::Device& device, int threads) {
  if (!device.is_cpu()) {
    throw UsageError("the OpenVINO IR " + quoted(path) + " runs on the CPU only, not on " +
                     device.str());
  }
  try {
    return std::make_unique<OpenVinoClassifier>(path, threads);
  } catch (const ov::Exception& e) {
    throw InputError("cannot load OpenVINO IR " + quoted(path) + ": " + e.what());
  }
}

}  // namespace tvdeploy
