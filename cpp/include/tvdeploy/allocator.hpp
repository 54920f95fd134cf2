// Heap settings for timed inference: keep memory freed between forwards inside the process.
//
// glibc's malloc serves large blocks (every activation of a vision model) with mmap and gives
// freed heap tops back to the kernel; a process that runs the same forward again then page-faults
// and zeroes the same memory on every call. Measured here (mobilenet_v3_small, batch 1, 2 threads,
// interleaved): the C++ bench was 1.23x slower than the Python worker on the same TorchScript file
// with glibc's defaults and indistinguishable from it with these settings, which leave the Python
// worker (whose heap stays pinned by the interpreter) unchanged.
#pragma once

#include <cstddef>

#include "tvdeploy/report.hpp"

namespace tvdeploy {

// Blocks below this come from the heap (glibc's ceiling for M_MMAP_THRESHOLD on 64-bit).
inline constexpr std::size_t kMmapThresholdBytes = std::size_t{32} << 20;
// Freed memory at the top of the heap is kept up to this much.
inline constexpr std::size_t kTrimThresholdBytes = std::size_t{1} << 30;

// Applies the settings (glibc only; elsewhere it changes nothing) and returns what it did, for
// the program's report. Throws std::runtime_error when glibc refuses a setting.
json keep_freed_memory_in_process();

}  // namespace tvdeploy
