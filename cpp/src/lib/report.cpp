#include "tvdeploy/report.hpp"

#include <unistd.h>

#include <fstream>
#include <string>
#include <system_error>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {
namespace {

constexpr int kJsonIndent = 2;

}  // namespace

void write_json_atomic(const fs::path& out, const json& value) {
  std::string text;
  try {
    text = value.dump(kJsonIndent);
  } catch (const json::exception& e) {
    throw OutputError("cannot serialise results for " + quoted(out) + ": " + e.what());
  }
  text.push_back('\n');
  write_bytes_atomic(out, text.data(), text.size());
}

void write_bytes_atomic(const fs::path& out, const char* data, std::size_t size) {
  fs::path tmp = out;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file) {
      throw OutputError("cannot create " + quoted(tmp) + " (does the directory of " + quoted(out) +
                        " exist and is it writable?)");
    }
    file.write(data, static_cast<std::streamsize>(size));
    file.flush();
    if (!file) {
      file.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw OutputError("failed writing " + quoted(tmp));
    }
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw OutputError("cannot rename " + quoted(tmp) + " to " + quoted(out) + ": " + ec.message());
  }
}

}  // namespace tvdeploy
