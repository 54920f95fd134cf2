// Preprocessed inputs: X.dat (raw little-endian float32) described by its sidecar X.json, whose
// "shape" has one positive size per axis of its "layout" (one letter per axis: "NCHW" for a batch
// of images, "NCTHW" for a batch of clips, "CHW" for one image), "dtype" "float32" and
// "byte_order" "little".
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace tvdeploy {

namespace fs = std::filesystem;

// The axis letter of the batch in a layout.
inline constexpr char kBatchAxis = 'N';

struct DatInput {
  torch::Tensor tensor;  // float32, on the CPU
  std::string layout;    // one letter per axis of tensor, each letter once
};

// Loads X.dat after checking it against its sidecar X.json; InputError if either is unusable.
DatInput load_dat(const fs::path& dat);

// Where axis (a letter of layout) is in layout; nullopt if layout has no such axis.
std::optional<std::int64_t> axis_index(std::string_view layout, char axis);

}  // namespace tvdeploy
