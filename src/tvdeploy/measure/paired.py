"""Paired comparison of two deployments measured in interleaved rounds.

In every round each deployment runs one timed block, in a shuffled order, one at a time. Drift
of the machine (clock, thermal, neighbours) then moves both blocks of a round alike, so the
per-round ratio of their medians cancels it; the ratio's uncertainty comes from how much those
per-round ratios scatter, not from the drift. The estimate is the geometric mean of the
per-round ratios with a Student-t confidence interval on their logarithms (ratios multiply, and
the log makes 0.8 and 1.25 symmetric).

Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

FASTER = "faster"
SLOWER = "slower"
INDISTINGUISHABLE = "indistinguishable"
VERDICTS = (FASTER, SLOWER, INDISTINGUISHABLE)


@dataclass(frozen=True)
class RatioEstimate:
    """candidate latency / reference latency: below 1 the candidate is faster."""

    ratio: float
    ci_low: float
    ci_high: float
    rounds: int
    confidence: float
    resolution: float
    verdict: str

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(ratio: float, ci_low: float, ci_high: float, resolution: float) -> str:
    """Faster (slower) only when the whole interval is below (above) 1 AND the estimate differs
    from 1 by more than ``resolution``; anything else cannot be told apart at that resolution."""
    if ci_high < 1.0 and ratio < 1.0 / (1.0 + resolution):
        return FASTER
    if ci_low > 1.0 and ratio > 1.0 + resolution:
        return SLOWER
    return INDISTINGUISHABLE


def paired_ratio(
    candidate_round_medians, reference_round_medians, confidence: float = 0.95, resolution: float = 0.03
) -> RatioEstimate:
    """The ratio candidate/reference from per-round medians measured in the same rounds."""
    cand = np.asarray(candidate_round_medians, dtype=np.float64)
    ref = np.asarray(reference_round_medians, dtype=np.float64)
    if cand.shape != ref.shape or cand.ndim != 1 or cand.size == 0:
        raise ValueError(f"need the same rounds for both sides, got {cand.shape} and {ref.shape}")
    if (cand <= 0).any() or (ref <= 0).any():
        raise ValueError("latencies must be positive")
    logs = np.log(cand / ref)
    rounds = int(logs.size)
    centre = float(logs.mean())
    if rounds < 2:
        # One round gives no estimate of its own scatter: an unbounded interval, never a verdict.
        low, high = 0.0, math.inf
    else:
        half_width = float(stats.t.ppf(0.5 + confidence / 2, rounds - 1) * logs.std(ddof=1) / math.sqrt(rounds))
        low, high = math.exp(centre - half_width), math.exp(centre + half_width)
    ratio = math.exp(centre)
    return RatioEstimate(
        ratio=ratio,
        ci_low=low,
        ci_high=high,
        rounds=rounds,
        confidence=confidence,
        resolution=resolution,
        verdict=verdict(ratio, low, high, resolution),
    )


def sequential_ratio(candidate_latencies, reference_latencies) -> float:
    """What comparing two separately measured runs gives: the ratio of their pooled medians.
    Kept to show (in tests and reports) how drift biases unpaired comparisons."""
    return float(np.median(candidate_latencies) / np.median(reference_latencies))
