// The programs' JSON reports: the JSON type (keys keep insertion order, so reports read in
// the documented key order), the LibTorch version they record, and the atomic write.
#pragma once

#include <torch/headeronly/version.h>

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string_view>

namespace tvdeploy {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

inline constexpr std::string_view kTorchVersion = TORCH_VERSION;

// Writes <out>.tmp.<pid> and renames it over <out>, so readers never see a partial file;
// OutputError (and no file) if that fails.
void write_json_atomic(const fs::path& out, const json& value);

// Writes size bytes to out through a temporary file renamed into place: a reader never sees a
// half-written file. Throws OutputError.
void write_bytes_atomic(const fs::path& out, const char* data, std::size_t size);

}  // namespace tvdeploy
