#include "tvdeploy/dat.hpp"

#include <bit>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {
namespace {

// The JSON type used throughout tvdeploy (see report.hpp).
using json = nlohmann::ordered_json;

constexpr std::string_view kSidecarSuffix = ".json";
constexpr std::string_view kExpectedDtype = "float32";
constexpr std::string_view kExpectedByteOrder = "little";

static_assert(std::endian::native == std::endian::little,
              "the .dat format is little-endian; big-endian hosts need byte swapping");

fs::path sidecar_path(const fs::path& dat) {
  fs::path sidecar = dat;
  sidecar.replace_extension(kSidecarSuffix);
  return sidecar;
}

json read_json_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError("cannot open " + what + " " + quoted(path) +
                     (fs::exists(path) ? "" : " (file does not exist)"));
  }
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    throw InputError("malformed JSON in " + what + " " + quoted(path) + ": " + e.what());
  }
}

// Checked product of the shape times the element size, in bytes.
std::uint64_t checked_byte_count(const std::vector<std::int64_t>& shape, std::uint64_t element_size,
                                 const fs::path& sidecar) {
  std::uint64_t total = element_size;
  for (std::int64_t dim : shape) {
    const auto d = static_cast<std::uint64_t>(dim);
    if (total > std::numeric_limits<std::uint64_t>::max() / d) {
      throw InputError("shape in " + quoted(sidecar) + " is too large (byte count overflows)");
    }
    total *= d;
  }
  return total;
}

struct DatMeta {
  std::vector<std::int64_t> shape;  // one size per axis of layout
  std::string layout;
  std::uint64_t byte_count = 0;
};

bool is_axis_letter(char c) { return c >= 'A' && c <= 'Z'; }

// The sidecar's "layout": a non-empty string of capital letters, each axis named once.
std::string read_layout(const json& meta, const fs::path& sidecar) {
  if (!meta.contains("layout")) {
    throw InputError("sidecar " + quoted(sidecar) + " lacks \"layout\"");
  }
  const json& value = meta.at("layout");
  const std::string layout = value.is_string() ? value.get<std::string>() : std::string();
  bool valid = !layout.empty();
  for (std::size_t i = 0; valid && i < layout.size(); ++i) {
    valid = is_axis_letter(layout[i]) && layout.find(layout[i]) == i;
  }
  if (!valid) {
    throw InputError("sidecar " + quoted(sidecar) + ": \"layout\" is " + value.dump() +
                     ", expected one capital letter per axis, each once (e.g. \"NCHW\")");
  }
  return layout;
}

DatMeta read_sidecar(const fs::path& sidecar) {
  const json meta = read_json_file(sidecar, "sidecar");
  if (!meta.is_object()) {
    throw InputError("sidecar " + quoted(sidecar) + " must contain a JSON object");
  }
  auto require_string = [&](const char* key, std::string_view expected, bool required) {
    if (!meta.contains(key)) {
      if (required) throw InputError("sidecar " + quoted(sidecar) + " lacks \"" + key + "\"");
      return;
    }
    const json& v = meta.at(key);
    if (!v.is_string() || v.get<std::string>() != expected) {
      throw InputError("sidecar " + quoted(sidecar) + ": \"" + key + "\" is " + v.dump() +
                       ", only \"" + std::string(expected) + "\" is supported");
    }
  };
  require_string("dtype", kExpectedDtype, true);
  DatMeta out;
  out.layout = read_layout(meta, sidecar);
  require_string("byte_order", kExpectedByteOrder, false);

  const std::string shape_text =
      meta.contains("shape") ? meta.at("shape").dump() : std::string("nothing");
  if (!meta.contains("shape") || !meta.at("shape").is_array() || meta.at("shape").empty()) {
    throw InputError(
        "sidecar " + quoted(sidecar) +
        ": \"shape\" must be a list of positive integers, one per axis of \"layout\" " + "\"" +
        out.layout + "\", got " + shape_text);
  }
  for (const json& dim : meta.at("shape")) {
    if (!dim.is_number_integer() || dim.get<std::int64_t>() <= 0) {
      throw InputError("sidecar " + quoted(sidecar) +
                       ": \"shape\" entries must be positive integers, got " + shape_text);
    }
    out.shape.push_back(dim.get<std::int64_t>());
  }
  if (out.shape.size() != out.layout.size()) {
    throw InputError("sidecar " + quoted(sidecar) + ": \"shape\" " + shape_text + " has " +
                     std::to_string(out.shape.size()) + " axes but \"layout\" \"" + out.layout +
                     "\" names " + std::to_string(out.layout.size()));
  }
  out.byte_count = checked_byte_count(out.shape, sizeof(float), sidecar);
  return out;
}

}  // namespace

DatInput load_dat(const fs::path& dat) {
  const fs::path sidecar = sidecar_path(dat);
  if (!fs::is_regular_file(dat)) {
    throw InputError("input " + quoted(dat) + " does not exist or is not a regular file");
  }
  if (!fs::exists(sidecar)) {
    throw InputError("sidecar " + quoted(sidecar) + " for input " + quoted(dat) +
                     " does not exist");
  }
  const DatMeta meta = read_sidecar(sidecar);

  std::error_code ec;
  const std::uintmax_t actual = fs::file_size(dat, ec);
  if (ec) {
    throw InputError("cannot get size of " + quoted(dat) + ": " + ec.message());
  }
  if (actual != meta.byte_count) {
    throw InputError("size mismatch for " + quoted(dat) + ": file has " + std::to_string(actual) +
                     " bytes but the shape in " + quoted(sidecar) + " needs " +
                     std::to_string(meta.byte_count) + " bytes");
  }
  if (meta.byte_count > static_cast<std::uint64_t>(std::numeric_limits<std::streamsize>::max())) {
    throw InputError("input " + quoted(dat) + " is too large to read");
  }

  // The tensor owns exactly byte_count bytes, so reading byte_count cannot overrun it.
  torch::Tensor tensor = torch::empty(meta.shape, torch::TensorOptions().dtype(torch::kFloat32));
  std::ifstream in(dat, std::ios::binary);
  if (!in) {
    throw InputError("cannot open input " + quoted(dat));
  }
  const auto wanted = static_cast<std::streamsize>(meta.byte_count);
  in.read(reinterpret_cast<char*>(tensor.data_ptr<float>()), wanted);
  if (in.gcount() != wanted) {
    throw InputError("short read from " + quoted(dat) + ": got " + std::to_string(in.gcount()) +
                     " of " + std::to_string(wanted) + " bytes");
  }
  return {std::move(tensor), meta.layout};
}

std::optional<std::int64_t> axis_index(std::string_view layout, char axis) {
  const std::size_t at = layout.find(axis);
  if (at == std::string_view::npos) return std::nullopt;
  return static_cast<std::int64_t>(at);
}

}  // namespace tvdeploy
