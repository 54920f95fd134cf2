// Preprocessed inputs: X.dat (raw little-endian float32, NCHW) described by its sidecar X.json.
#pragma once

#include <torch/script.h>

#include <filesystem>

namespace tvdeploy {

namespace fs = std::filesystem;

// Loads X.dat after checking it against its sidecar X.json; InputError if either is unusable.
torch::Tensor load_dat(const fs::path& dat);

}  // namespace tvdeploy
