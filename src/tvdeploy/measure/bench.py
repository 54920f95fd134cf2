"""The benchmark protocol shared by every harness: stopping rule, timing loop, statistics.

The C++ ``bench`` program implements the same stopping rule (cpp/include/tvdeploy/timing.hpp);
all three harnesses record raw per-iteration latencies and this module summarises them,
so every runtime's numbers come from one implementation.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import psutil

LOG = logging.getLogger("tvdeploy.measure.bench")
NOISY_IQR_RATIO = 0.10  # torch.utils.benchmark warns at IQR/median >= 10 %
MS_PER_S = 1000.0


class ProtocolError(ValueError):
    """Benchmark settings that cannot describe a valid run."""


@dataclass(frozen=True)
class Protocol:
    warmup_iters: int = 3
    warmup_max_time_s: float = 30.0
    min_iters: int = 10
    max_iters: int = 1000
    min_time_s: float = 1.0
    max_time_s: float = 30.0
    rounds: int = 1

    def __post_init__(self):
        problems = []
        if self.warmup_iters < 0:
            problems.append(f"warmup_iters={self.warmup_iters} < 0")
        if not self.warmup_max_time_s > 0:
            problems.append(f"warmup_max_time_s={self.warmup_max_time_s} <= 0")
        if self.min_iters < 1:
            problems.append(f"min_iters={self.min_iters} < 1")
        if self.max_iters < self.min_iters:
            problems.append(f"max_iters={self.max_iters} < min_iters={self.min_iters}")
        if not 0 < self.min_time_s <= self.max_time_s:
            problems.append(f"need 0 < min_time_s ({self.min_time_s}) <= max_time_s ({self.max_time_s})")
        if self.rounds < 1:
            problems.append(f"rounds={self.rounds} < 1")
        if problems:
            raise ProtocolError("invalid benchmark protocol: " + "; ".join(problems))

    @classmethod
    def from_config(cls, bench: dict) -> Protocol:
        return cls(**{k: bench[k] for k in cls.__dataclass_fields__ if k in bench})

    def as_dict(self) -> dict:
        return asdict(self)


def stop_reason(iterations: int, elapsed_s: float, protocol: Protocol) -> str | None:
    """Why the timed loop stops after ``iterations`` taking ``elapsed_s`` in total, or None.

    A run ends when BOTH the minimum count and the minimum time are met (MLPerf LoadGen's
    rule), or earlier at a cap: ``max_iters`` first, then ``max_time_s``.
    """
    if iterations >= protocol.max_iters:
        return "max_iters"
    if elapsed_s >= protocol.max_time_s:
        return "max_time"
    if iterations >= protocol.min_iters and elapsed_s >= protocol.min_time_s:
        return "min_reached"
    return None


def warm_up(
    step: Callable[[], object],
    synchronize: Callable[[], None],
    iters: int,
    max_time_s: float = math.inf,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Untimed iterations: ``iters`` of them, or fewer once ``max_time_s`` is spent (at least one
    when ``iters`` > 0, so a model slower than the bound is still warmed once)."""
    start = clock()
    done = 0
    while done < iters:
        step()
        done += 1
        if clock() - start >= max_time_s:
            break
    synchronize()
    return {"iters": done, "seconds": clock() - start}


def run_block(
    step: Callable[[], object],
    synchronize: Callable[[], None],
    rule,
    clock: Callable[[], float] = time.perf_counter,
) -> dict:
    """Timed iterations until the stopping rule (``rule`` has min/max iters and time) says stop;
    ``synchronize`` waits for queued device work so that each measured interval contains the
    work itself, not just its launch."""
    latencies_ms: list[float] = []
    elapsed_s = 0.0
    block_start = clock()
    while True:
        start = clock()
        step()
        synchronize()
        latency_s = clock() - start
        latencies_ms.append(latency_s * MS_PER_S)
        elapsed_s += latency_s
        reason = stop_reason(len(latencies_ms), elapsed_s, rule)
        if reason:
            return {"latencies_ms": latencies_ms, "stop_reason": reason, "wall_s": clock() - block_start}


def run_rounds(
    step: Callable[[], object],
    synchronize: Callable[[], None],
    protocol: Protocol,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict]:
    """Time ``step`` under ``protocol``: per round, warm-up then one timed block."""
    rounds = []
    for _ in range(protocol.rounds):
        warm_up(step, synchronize, protocol.warmup_iters, protocol.warmup_max_time_s, clock)
        rounds.append(run_block(step, synchronize, protocol, clock))
    return rounds


def summarize(latencies_ms, batch_size: int) -> dict:
    """Summary statistics of per-iteration latencies (ms) for a batch of ``batch_size``."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no latencies to summarise")
    q1, median, q3, p90, p99 = np.percentile(values, [25, 50, 75, 90, 99])
    iqr = q3 - q1
    return {
        "iterations": int(values.size),
        "median_ms": float(median),
        "mean_ms": float(values.mean()),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
        # Sample standard deviation; a single sample has no spread to estimate.
        "std_ms": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "iqr_ms": float(iqr),
        "iqr_over_median": float(iqr / median) if median > 0 else math.inf,
        "noisy": bool(median <= 0 or iqr / median >= NOISY_IQR_RATIO),
        "throughput_ips": float(batch_size * MS_PER_S / median) if median > 0 else math.inf,
    }


def summarize_rounds(rounds: list[dict], batch_size: int) -> dict:
    """Pooled summary over all rounds plus the spread of the per-round medians."""
    pooled = [x for r in rounds for x in r["latencies_ms"]]
    summary = summarize(pooled, batch_size)
    medians = [float(np.median(r["latencies_ms"])) for r in rounds]
    summary.update(
        {
            "rounds": len(rounds),
            "round_medians_ms": medians,
            "round_median_spread": float((max(medians) - min(medians)) / np.median(medians))
            if len(medians) > 1
            else 0.0,
        }
    )
    return summary


def bench_threads(configured: int, job_threads: int, cores: int) -> int:
    """Threads a benchmark uses: the configured number, or (0) the job's share of the cores,
    never more than the machine has (oversubscription would measure contention)."""
    return configured if configured > 0 else max(1, min(job_threads, cores))


def job_span() -> dict:
    """When this job's process started and now (epoch seconds). Benchmark rules carry no Snakemake
    ``benchmark:`` file (its 0.5 s sampling would run beside the measurement), so the run's wall-time
    accounting reads the span from here."""
    return {"started_at": psutil.Process().create_time(), "finished_at": time.time()}
