// Benchmark timing: the clock, and the stopping rule shared with the Python harness
// (tvdeploy.measure.bench.stop_reason), checked at compile time below.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace tvdeploy {

using Clock = std::chrono::steady_clock;

constexpr double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

inline constexpr double kMillisPerSecond = 1000.0;

enum class StopReason { kContinue, kMaxIters, kMaxTime, kMinReached };

struct StopRule {
  std::int64_t min_iters = 0;
  std::int64_t max_iters = 0;
  double min_time_s = 0.0;
  double max_time_s = 0.0;
};

// Decision after the n-th timed iteration, elapsed_s = sum of timed latencies.
// Must stay identical to the Python harness's rule.
constexpr StopReason stop_reason(const StopRule& rule, std::int64_t n, double elapsed_s) noexcept {
  if (n >= rule.max_iters) return StopReason::kMaxIters;
  if (elapsed_s >= rule.max_time_s) return StopReason::kMaxTime;
  if (n >= rule.min_iters && elapsed_s >= rule.min_time_s) return StopReason::kMinReached;
  return StopReason::kContinue;
}

constexpr std::string_view to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::kMaxIters:
      return "max_iters";
    case StopReason::kMaxTime:
      return "max_time";
    case StopReason::kMinReached:
      return "min_reached";
    case StopReason::kContinue:
      break;
  }
  return "continue";
}

// Compile-time checks of the rule's precedence.
static_assert(stop_reason({10, 20, 1.0, 5.0}, 20, 9.0) == StopReason::kMaxIters);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 3, 5.0) == StopReason::kMaxTime);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 10, 1.0) == StopReason::kMinReached);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 9, 2.0) == StopReason::kContinue);
static_assert(stop_reason({10, 20, 1.0, 5.0}, 12, 0.5) == StopReason::kContinue);

}  // namespace tvdeploy
