#include "tvdeploy/measure.hpp"

#include <cmath>
#include <exception>
#include <istream>
#include <limits>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tvdeploy/errors.hpp"

namespace tvdeploy {

json warm_up(const Step& step, const Synchronize& sync, std::int64_t iters, double max_time_s) {
  const Clock::time_point start = Clock::now();
  std::int64_t done = 0;
  while (done < iters) {
    step();
    ++done;
    if (seconds_between(start, Clock::now()) >= max_time_s) break;
  }
  sync();
  return {{"iters", done}, {"seconds", seconds_between(start, Clock::now())}};
}

json run_block(const Step& step, const Synchronize& sync, const StopRule& rule) {
  std::vector<double> latencies_ms;
  double elapsed_s = 0.0;
  StopReason reason = StopReason::kContinue;
  const Clock::time_point block_start = Clock::now();
  while (reason == StopReason::kContinue) {
    sync();
    const Clock::time_point start = Clock::now();
    step();
    sync();
    const double seconds = seconds_between(start, Clock::now());
    elapsed_s += seconds;
    latencies_ms.push_back(seconds * kMillisPerSecond);
    reason = stop_reason(rule, static_cast<std::int64_t>(latencies_ms.size()), elapsed_s);
  }
  return {{"latencies_ms", latencies_ms},
          {"stop_reason", to_string(reason)},
          {"wall_s", seconds_between(block_start, Clock::now())}};
}

namespace {

template <typename T>
T required(const json& request, const char* key) {
  if (!request.contains(key)) {
    throw std::invalid_argument(std::string("request lacks \"") + key + "\"");
  }
  try {
    return request.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(std::string("request field \"") + key +
                                "\" has the wrong type: " + request.at(key).dump());
  }
}

void write_line(std::ostream& out, const json& message) {
  out << message.dump() << '\n';
  out.flush();
}

}  // namespace

StopRule block_rule(const json& request) {
  StopRule rule;
  rule.min_iters = required<std::int64_t>(request, "min_iters");
  rule.max_iters = required<std::int64_t>(request, "max_iters");
  rule.min_time_s = required<double>(request, "min_time_s");
  rule.max_time_s = required<double>(request, "max_time_s");
  if (rule.min_iters < 1 || rule.max_iters < rule.min_iters || !(rule.min_time_s > 0.0) ||
      rule.min_time_s > rule.max_time_s) {
    throw std::invalid_argument("inconsistent block request " + request.dump());
  }
  return rule;
}

void serve(std::istream& in, std::ostream& out, const json& ready, const Step& step,
           const Synchronize& sync) {
  write_line(out, {{"ok", true}, {"ready", ready}});
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const json request = json::parse(line);
      const std::string op = request.value("op", "");
      if (op == "quit") return;
      json answer;
      if (op == "warmup") {
        const double max_time_s = request.contains("max_time_s")
                                      ? required<double>(request, "max_time_s")
                                      : std::numeric_limits<double>::infinity();
        answer = warm_up(step, sync, required<std::int64_t>(request, "iters"), max_time_s);
      } else if (op == "block") {
        answer = run_block(step, sync, block_rule(request));
      } else {
        throw std::invalid_argument("unknown op '" + op + "' (expected warmup, block or quit)");
      }
      json message = {{"ok", true}};
      message.update(answer);
      write_line(out, message);
    } catch (const std::exception& e) {
      write_line(out, {{"ok", false}, {"error", describe(e)}});
    }
  }
}

}  // namespace tvdeploy
