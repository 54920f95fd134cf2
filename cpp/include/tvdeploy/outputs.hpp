// Large outputs of infer's result entries (a segmentation mask, a flow, a detector's masks) go to
// .dat files with sidecars beside the result file, named and described exactly as
// tvdeploy.predict.outputs names and describes the Python side's; the entry keeps a reference
// (file name, shape, layout).
#pragma once

#include <torch/script.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "tvdeploy/report.hpp"

namespace tvdeploy {

namespace fs = std::filesystem;

// Where the field of the index-th result entry goes: beside the result file record, as
// tvdeploy.predict.outputs.output_dat_path names it (<record stem>.<index>.<field>.dat).
fs::path output_dat_path(const fs::path& record, std::size_t index, std::string_view field);

// Writes tensor (float32, contiguous, on the CPU) to dat as raw little-endian float32, then its
// sidecar (shape, dtype, layout, byte order, field, input), each atomically, the sidecar last as
// tvdeploy.inputs.dat.write_dat does; returns the entry's reference to it.
json write_output_dat(const fs::path& dat, const torch::Tensor& tensor, std::string_view layout,
                      std::string_view field, const std::string& input);

}  // namespace tvdeploy
