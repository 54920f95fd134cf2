import math
import time

import numpy as np
import pytest

from tvdeploy.measure.bench import (
    Protocol,
    ProtocolError,
    bench_threads,
    job_span,
    run_rounds,
    stop_reason,
    summarize,
    summarize_rounds,
)


def protocol(**overrides):
    base = dict(warmup_iters=2, min_iters=5, max_iters=50, min_time_s=1.0, max_time_s=3.0, rounds=1)
    base.update(overrides)
    return Protocol(**base)


def test_stop_needs_both_minimums():
    p = protocol()
    assert stop_reason(4, 2.5, p) is None  # time met, count not
    assert stop_reason(5, 0.5, p) is None  # count met, time not
    assert stop_reason(5, 1.0, p) == "min_reached"
    assert stop_reason(50, 0.1, p) == "max_iters"  # count cap wins
    assert stop_reason(2, 3.0, p) == "max_time"  # time cap beats min_iters


class FakeClock:
    """Deterministic clock: each step() advances time by the next scripted duration."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self):
        return self.now

    def step(self):
        self.now += self.durations[self.calls % len(self.durations)]
        self.calls += 1


def test_run_rounds_stops_on_time_and_count():
    clock = FakeClock([0.1])
    p = protocol(warmup_iters=3, min_iters=5, min_time_s=1.0, max_time_s=10.0, max_iters=100)
    syncs = []
    rounds = run_rounds(clock.step, lambda: syncs.append(1), p, clock=clock)
    assert len(rounds) == 1
    # 0.1 s each: count 5 reached at 0.5 s, time 1.0 s reached at iteration 10 (float sum ≈ 1.0).
    assert len(rounds[0]["latencies_ms"]) in (10, 11)
    assert rounds[0]["stop_reason"] == "min_reached"
    assert clock.calls == 3 + len(rounds[0]["latencies_ms"])  # warm-up runs are not recorded
    assert len(syncs) == 1 + len(rounds[0]["latencies_ms"])  # sync after warm-up and every iteration
    assert all(math.isclose(x, 100.0) for x in rounds[0]["latencies_ms"])


def test_run_rounds_slow_model_is_time_bounded():
    clock = FakeClock([2.0])
    rounds = run_rounds(clock.step, lambda: None, protocol(min_iters=10, max_time_s=3.0, rounds=2), clock=clock)
    assert [len(r["latencies_ms"]) for r in rounds] == [2, 2]
    assert {r["stop_reason"] for r in rounds} == {"max_time"}


def test_protocol_validation():
    with pytest.raises(ProtocolError, match="max_iters=3 < min_iters=5"):
        protocol(max_iters=3)
    with pytest.raises(ProtocolError, match="min_time_s"):
        protocol(min_time_s=5.0, max_time_s=1.0)
    with pytest.raises(ProtocolError, match="rounds=0"):
        protocol(rounds=0)
    assert Protocol.from_config({"min_iters": 2, "max_iters": 9, "threads": 4}).max_iters == 9


def test_summary_against_hand_computed_values():
    s = summarize([4.0, 1.0, 3.0, 2.0, 10.0], batch_size=2)
    # sorted 1 2 3 4 10; numpy's linear percentiles: q1 = 2, median = 3, q3 = 4, p90 = 4 + 0.6*6 = 7.6
    assert s["median_ms"] == 3.0
    assert s["mean_ms"] == 4.0
    assert s["min_ms"] == 1.0 and s["max_ms"] == 10.0
    assert s["iqr_ms"] == 2.0
    assert math.isclose(s["p90_ms"], 7.6)
    assert math.isclose(s["p99_ms"], 4 + 0.96 * 6)
    assert math.isclose(s["std_ms"], math.sqrt((9 + 4 + 1 + 0 + 36) / 4))  # sample std, n-1
    assert math.isclose(s["iqr_over_median"], 2 / 3)
    assert s["noisy"] is True
    assert math.isclose(s["throughput_ips"], 2 * 1000 / 3)
    assert s["iterations"] == 5


def test_summary_quiet_run_not_noisy():
    s = summarize([10.0, 10.1, 10.2, 9.9, 10.0, 10.05], batch_size=1)
    assert s["noisy"] is False
    assert summarize([5.0], 1)["std_ms"] == 0.0
    with pytest.raises(ValueError):
        summarize([], 1)


def test_round_spread_and_job_span():
    rounds = [{"latencies_ms": [1.0, 1.0, 1.0]}, {"latencies_ms": [2.0, 2.0, 2.0]}]
    s = summarize_rounds(rounds, batch_size=1)
    assert s["round_medians_ms"] == [1.0, 2.0]
    assert math.isclose(s["round_median_spread"], 1.0 / 1.5)
    assert s["iterations"] == 6
    assert s["median_ms"] == float(np.median([1, 1, 1, 2, 2, 2]))
    # The job span (recorded in every comparison result) starts when this process started
    # (before the test) and ends now.
    span = job_span()
    assert span["started_at"] <= span["finished_at"] <= time.time()
    assert span["finished_at"] - span["started_at"] > 0


def test_bench_threads_never_oversubscribe():
    assert bench_threads(3, job_threads=8, cores=2) == 3  # explicit setting is honoured
    assert bench_threads(0, job_threads=4, cores=2) == 2
    assert bench_threads(0, job_threads=1, cores=16) == 1
