"""How many rounds a comparison runs, and which blocks it leaves out.

Adaptive rounds: after ``min_rounds`` undisturbed rounds, a group of deployments stops as soon
as every pair it measures has a confidence interval narrower than the resolution the verdicts
use (``half_width``), or at ``max_rounds``, or once its rounds (not the workers' starts and
warm-ups) have spent ``max_seconds`` after the minimum. Small, noisy
models get more rounds than five; big, steady ones stop at the minimum.

Disturbed blocks: a block slowed (or sped up) as a whole — a neighbour took the core for its
whole duration — has a small spread of its own, so the per-block noise check passes it, but its
median is far from the same deployment's other rounds. Such a block is flagged and left out of
every ratio it touches and of the deployment's pooled statistics, and the round is replaced by
running another round (both members of every pair measured again). Leaving it out rather than
down-weighting it: a paired round is either measured under the same conditions for both sides
or it is not, and the record keeps the block with its flag, so nothing is silently pooled.
A block is judged against the median of its deployment's rounds after removing the round's
shift shared by the other deployments (drift of the whole machine moves every block of a round
and is what pairing cancels, not a disturbance); with fewer than three deployments in the group
there is no shared shift to estimate, and with fewer than three rounds no median to trust.

Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tvdeploy.measure.paired import RatioEstimate

CONVERGED = "converged"
MAX_ROUNDS = "max_rounds"
MAX_SECONDS = "max_seconds"
NOTHING_TO_COMPARE = "nothing to compare"
STOP_REASONS = (CONVERGED, MAX_ROUNDS, MAX_SECONDS, NOTHING_TO_COMPARE)
# Fewest rounds (and deployments) a median of the others is taken over.
MIN_FOR_MEDIAN = 3


@dataclass(frozen=True)
class StoppingRule:
    min_rounds: int
    max_rounds: int
    # Relative half-width of a ratio's interval (0.03: within ±3 %) at which a pair is resolved.
    half_width: float
    # A group's rounds stop once this long (seconds) was spent; 0: no limit.
    max_seconds: float = 0.0
    # A block whose median is off its deployment's other rounds by more than this (relative,
    # after the round's shared shift) is disturbed.
    disturbed_ratio: float = 0.30

    def __post_init__(self):
        if not 1 <= self.min_rounds <= self.max_rounds:
            raise ValueError(f"need 1 <= min_rounds ({self.min_rounds}) <= max_rounds ({self.max_rounds})")
        if not self.half_width > 0 or not self.disturbed_ratio > 0 or self.max_seconds < 0:
            raise ValueError("half_width and disturbed_ratio must be positive, max_seconds not negative")

    @classmethod
    def fixed(cls, rounds: int) -> StoppingRule:
        """Exactly ``rounds`` rounds (no early stop), disturbed blocks still flagged."""
        return cls(min_rounds=rounds, max_rounds=rounds, half_width=math.inf)

    def as_dict(self) -> dict:
        return asdict(self)

    def reason(
        self, rounds_run: int, clean_rounds: Sequence[int], estimates: Sequence[RatioEstimate], elapsed_s: float
    ):
        """Why the group stops after ``rounds_run`` rounds taking ``elapsed_s`` (the rounds alone,
        not the workers' starts and warm-ups), or None to go on. ``clean_rounds`` holds, per pair,
        the undisturbed rounds both sides completed; ``estimates`` their ratios."""
        enough = rounds_run >= self.min_rounds and all(n >= self.min_rounds for n in clean_rounds)
        if enough and not estimates:
            return NOTHING_TO_COMPARE
        if enough and all(relative_half_width(e) <= self.half_width for e in estimates):
            return CONVERGED
        if rounds_run >= self.max_rounds:
            return MAX_ROUNDS
        # The minimum runs whatever it costs: fewer rounds give no interval at all (a detector's
        # nine workers took 130 s to start and warm up, and one round fit in the rest).
        if self.max_seconds and elapsed_s >= self.max_seconds and rounds_run >= self.min_rounds:
            return MAX_SECONDS
        return None


def relative_half_width(estimate: RatioEstimate) -> float:
    """Half the interval's width relative to the ratio (geometric: the interval is symmetric in
    log space); infinite for an unbounded interval."""
    if not (estimate.ci_low > 0 and math.isfinite(estimate.ci_high)):
        return math.inf
    return math.sqrt(estimate.ci_high / estimate.ci_low) - 1.0


def disturbed_blocks(round_medians: Mapping[str, Mapping[int, float]], disturbed_ratio: float) -> set[tuple[str, int]]:
    """(deployment, round) of every block far from its deployment's other rounds.

    ``round_medians``: per deployment, round → the block's median latency."""
    deviations: dict[str, dict[int, float]] = {}
    for name, medians in round_medians.items():
        if len(medians) < MIN_FOR_MEDIAN:
            continue
        logs = {r: math.log(m) for r, m in medians.items()}
        centre = float(np.median(list(logs.values())))
        deviations[name] = {r: value - centre for r, value in logs.items()}
    rounds = sorted({r for devs in deviations.values() for r in devs})
    shift = {}
    for r in rounds:
        in_round = [devs[r] for devs in deviations.values() if r in devs]
        shift[r] = float(np.median(in_round)) if len(in_round) >= MIN_FOR_MEDIAN else 0.0
    limit = math.log1p(disturbed_ratio)
    return {(name, r) for name, devs in deviations.items() for r, dev in devs.items() if abs(dev - shift[r]) > limit}


def clean_rounds(medians: Mapping[str, Mapping[int, float]], disturbed, cand: str, ref: str) -> list[int]:
    """The rounds both ``cand`` and ``ref`` completed, neither block disturbed."""
    both = set(medians.get(cand, {})) & set(medians.get(ref, {}))
    return sorted(r for r in both if (cand, r) not in disturbed and (ref, r) not in disturbed)


def launch_rounds(rounds: int, launches: int) -> list[range]:
    """Split ``rounds`` into ``launches`` consecutive groups as even as possible."""
    if not 1 <= launches <= rounds:
        raise ValueError(f"need 1 <= launches ({launches}) <= rounds ({rounds})")
    bounds = [round(i * rounds / launches) for i in range(launches + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def launch_plan(stopping: StoppingRule, launches: int) -> list[range]:
    """The rounds of each launch: the minimum rounds split over ``launches`` fresh starts, then
    further launches of the same length up to the maximum (run only while the group goes on)."""
    plan = launch_rounds(stopping.min_rounds, launches)
    length = max(len(r) for r in plan)
    start = stopping.min_rounds
    while start < stopping.max_rounds:
        plan.append(range(start, min(start + length, stopping.max_rounds)))
        start += length
    return plan
