#include "tvdeploy/allocator.hpp"

#include <stdexcept>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tvdeploy {

json keep_freed_memory_in_process() {
#if defined(__GLIBC__)
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) != 1) {
    throw std::runtime_error("glibc refused M_MMAP_THRESHOLD=" +
                             std::to_string(kMmapThresholdBytes));
  }
  if (mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) != 1) {
    throw std::runtime_error("glibc refused M_TRIM_THRESHOLD=" +
                             std::to_string(kTrimThresholdBytes));
  }
  return {{"library", "glibc"},
          {"mmap_threshold_bytes", kMmapThresholdBytes},
          {"trim_threshold_bytes", kTrimThresholdBytes}};
#else
  return {{"library", "system default"}};
#endif
}

}  // namespace tvdeploy
