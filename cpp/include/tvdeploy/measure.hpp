// Timing loops shared by bench's one-shot mode and its serve mode, and the serve protocol:
// a long-lived worker that answers "warm up" and "run a timed block" requests, one JSON line
// each (the same protocol as the Python workers, tvdeploy.measure.worker).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>

#include "tvdeploy/report.hpp"
#include "tvdeploy/timing.hpp"

namespace tvdeploy {

// One forward pass (its output is checked by the caller's step, outside the clock is not needed).
using Step = std::function<void()>;
// Waits for queued device work, so a measured interval contains the work, not its launch.
using Synchronize = std::function<void()>;

// Untimed iterations: `iters`, or fewer once `max_time_s` is spent (at least one when iters > 0).
// Returns {"iters": n, "seconds": s}.
json warm_up(const Step& step, const Synchronize& sync, std::int64_t iters, double max_time_s);

// Timed iterations until the stopping rule says stop.
// Returns {"latencies_ms": [...], "stop_reason": "...", "wall_s": w}.
json run_block(const Step& step, const Synchronize& sync, const StopRule& rule);

// Validates a block request's stopping rule; throws std::invalid_argument with the reason.
StopRule block_rule(const json& request);

// Answers requests read from `in` on `out` until {"op": "quit"} or the end of `in`:
//   {"op": "warmup", "iters": N, "max_time_s": S}
//   {"op": "block", "min_iters", "max_iters", "min_time_s", "max_time_s"}
// Starts by writing {"ok": true, "ready": ready}. A failed request is answered
// {"ok": false, "error": "..."} and the worker goes on. Between requests it sits in a
// blocking read: an idle worker uses no CPU.
void serve(std::istream& in, std::ostream& out, const json& ready, const Step& step,
           const Synchronize& sync);

}  // namespace tvdeploy
