// Large outputs of infer's result entries (a segmentation mask, a detector's masks) go to raw
// .dat files with sidecars beside the result file, named exactly as tvdeploy.predict.outputs
// names the Python side's; the entry keeps a reference to the file.
#pragma once

#include <torch/script.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "tvdeploy/report.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// Where the field of the index-th result entry goes: <record stem>.<index>.<field>.dat beside it.
fs::path output_dat_path(const fs::path& record, std::size_t index, std::string_view field);

// Writes tensor (converted to contiguous float32 on the CPU) to the field's .dat of the index-th
// entry as raw little-endian float32, then its sidecar (shape, dtype, layout, byte order, field,
// input), each atomically, the sidecar last as tvdeploy.inputs.dat.write_dat does. Returns the
// entry's reference: {"dat": file name, "shape": [...], "layout": layout}.
json write_tensor_output(const fs::path& record, std::size_t index, std::string_view field,
                         const torch::Tensor& tensor, std::string_view layout,
                         const std::string& input);

}  // namespace tvdeploy
