#include "tvdeploy/tensor_output.hpp"

#include <cstdint>
#include <utility>

namespace tvdeploy {

fs::path output_dat_path(const fs::path& record, std::size_t index, std::string_view field) {
  return record.parent_path() /
         (record.stem().string() + "." + std::to_string(index) + "." + std::string(field) + ".dat");
}

json write_tensor_output(const fs::path& record, std::size_t index, std::string_view field,
                         const torch::Tensor& tensor, std::string_view layout,
                         const std::string& input) {
  const torch::Tensor values = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  const fs::path dat = output_dat_path(record, index, field);
  write_bytes_atomic(dat, static_cast<const char*>(values.data_ptr()),
                     values.numel() * sizeof(float));
  json shape = json::array();
  for (const std::int64_t size : values.sizes()) shape.push_back(size);
  fs::path sidecar = dat;
  sidecar.replace_extension(".json");
  write_json_atomic(sidecar, {{"shape", shape},
                              {"dtype", "float32"},
                              {"layout", std::string(layout)},
                              {"byte_order", "little"},
                              {"field", std::string(field)},
                              {"input", input}});
  return {{"dat", dat.filename().string()},
          {"shape", std::move(shape)},
          {"layout", std::string(layout)}};
}

}  // namespace tvdeploy
