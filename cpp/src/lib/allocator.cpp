#include "tvdeploy/allocator.hpp"

#include <cerrno>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>

namespace tvdeploy {

#if defined(__GLIBC__)
namespace {

constexpr const char* kTunablesVariable = "GLIBC_TUNABLES";
constexpr const char* kMmapThreshold = "glibc.malloc.mmap_threshold";
constexpr const char* kTrimThreshold = "glibc.malloc.trim_threshold";

// A tunable's value as glibc reads it (decimal, 0x hex or 0-prefixed octal: strtoull's base 0);
// text it cannot read is reported as given (glibc ignores it), null when unset.
json tunable_bytes(const std::map<std::string, std::string>& tunables, const std::string& name) {
  const auto found = tunables.find(name);
  if (found == tunables.end()) return nullptr;
  const std::string& text = found->second;
  if (text.empty() || text[0] < '0' || text[0] > '9') return text;  // no sign, no spaces
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 0);
  if (errno != 0 || *end != '\0') return text;
  return value;
}

}  // namespace
#endif

json allocator_settings() {
#if defined(__GLIBC__)
  std::map<std::string, std::string> tunables;
  if (const char* variable = std::getenv(kTunablesVariable)) {
    std::istringstream entries(variable);
    std::string entry;
    while (std::getline(entries, entry, ':')) {
      if (entry.empty()) continue;
      const auto equals = entry.find('=');
      // glibc applies them in order: the last one of a name counts.
      tunables[entry.substr(0, equals)] =
          equals == std::string::npos ? std::string() : entry.substr(equals + 1);
    }
  }
  const json mmap_threshold = tunable_bytes(tunables, kMmapThreshold);
  const json trim_threshold = tunable_bytes(tunables, kTrimThreshold);
  const bool defaults = mmap_threshold.is_null() && trim_threshold.is_null();
  return {{"library", "glibc"},
          {"mmap_threshold_bytes", mmap_threshold},
          {"trim_threshold_bytes", trim_threshold},
          {"via", defaults ? "defaults" : kTunablesVariable}};
#else
  return {{"library", "system default"}};
#endif
}

}  // namespace tvdeploy
