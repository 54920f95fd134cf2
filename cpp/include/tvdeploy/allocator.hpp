// The heap settings this process runs under, for the program's report.
//
// The benchmark's glibc malloc settings (mmap and trim thresholds that keep memory freed between
// forwards inside the process) are defined once, in src/tvdeploy/harnesses/allocator.py, and
// given to every benchmark worker, Python or C++, in its environment as GLIBC_TUNABLES, which
// glibc reads when the process starts. So this program sets nothing itself: run by hand it runs
// under glibc's defaults unless GLIBC_TUNABLES sets them, e.g.
//   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824
// and its report says which.
#pragma once

#include "tvdeploy/report.hpp"

namespace tvdeploy {

// The malloc thresholds GLIBC_TUNABLES asks for (null where glibc keeps its default), in the
// form the Python worker reports: {"library", "mmap_threshold_bytes", "trim_threshold_bytes",
// "via": "GLIBC_TUNABLES" or "defaults"}; {"library": "system default"} without glibc.
json allocator_settings();

}  // namespace tvdeploy
