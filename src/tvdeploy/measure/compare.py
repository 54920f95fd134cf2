"""Interleaved comparison of long-lived harness workers (one per runtime × variant).

Each worker is a process that loads its deployment once, warms it up (bounded by iterations and
by seconds) and then answers "run a timed block" requests, one JSON line each, on its
stdin/stdout (the protocol is in ``tvdeploy.measure.worker``; the C++ ``bench --serve`` speaks
the same). In every round each worker times one block, in a freshly shuffled order, strictly one
at a time: a worker that is not timing waits in a blocking read, using no CPU. A block whose
spread is too large is re-run (a bounded number of times) and flagged if it stays noisy; a block
disturbed as a whole is flagged and replaced by another round (tvdeploy.measure.stopping); never
silently pooled. Rounds go on until every pair's interval is narrow enough or a limit is reached.
Workers are resident in groups that fit the memory budget, each pair inside one group
(tvdeploy.measure.admission). A worker that fails is recorded with its error; the others go on.

Torch-free: the coordinator only starts processes and reads their answers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tvdeploy.measure.admission import plan_groups
from tvdeploy.measure.paired import paired_ratio
from tvdeploy.measure.processes import WorkerError
from tvdeploy.measure.stopping import StoppingRule, clean_rounds, disturbed_blocks, launch_plan

LOG = logging.getLogger("tvdeploy.measure.compare")


@dataclass(frozen=True)
class BlockRule:
    """When a timed block ends (the benchmark protocol's stopping rule) and when it is noisy."""

    min_iters: int
    max_iters: int
    min_time_s: float
    max_time_s: float
    noisy_iqr_ratio: float = 0.10
    max_reruns: int = 1

    def request(self) -> dict:
        return {
            "op": "block",
            "min_iters": self.min_iters,
            "max_iters": self.max_iters,
            "min_time_s": self.min_time_s,
            "max_time_s": self.max_time_s,
        }


def block_spread(latencies_ms: Sequence[float]) -> float:
    """IQR / median of one block."""
    q1, median, q3 = np.percentile(np.asarray(latencies_ms, dtype=np.float64), [25, 50, 75])
    return float((q3 - q1) / median) if median > 0 else float("inf")


@dataclass
class WorkerResult:
    name: str
    ready: dict = field(default_factory=dict)
    warmup: dict = field(default_factory=dict)
    blocks: list[dict] = field(default_factory=list)
    error: str | None = None
    error_class: str | None = None

    def as_dict(self) -> dict:
        entry = {"name": self.name, "ready": self.ready, "warmup": self.warmup, "blocks": self.blocks}
        return {**entry, "error": self.error, **({"error_class": self.error_class} if self.error_class else {})}


@dataclass
class GroupOutcome:
    """One group's measurement: who was resident together, which pairs its rounds measure, how
    many rounds ran and why they stopped (or why the group was given up before its rounds)."""

    members: list[str]
    pairs: list[tuple[str, str]]
    rounds: int = 0
    launches: int = 0
    stop_reason: str | None = None
    seconds: float = 0.0
    given_up: str | None = None

    def as_dict(self) -> dict:
        return {**asdict(self), "pairs": [list(p) for p in self.pairs]}


def resident_mb(worker) -> float | None:
    """A worker's measured size, where it can tell one (``ProcessWorker.resident_mb``)."""
    measure = getattr(worker, "resident_mb", None)
    return measure() if callable(measure) else None


class Comparison:
    """Interleaved rounds over groups of workers (see the module docstring and
    tvdeploy.measure.admission, tvdeploy.measure.stopping)."""

    def __init__(
        self,
        workers: dict[str, object],
        rule: BlockRule,
        stopping: StoppingRule,
        warmup_iters: int,
        warmup_max_time_s: float,
        launches: int = 1,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
        confidence: float = 0.95,
    ):
        self.workers = workers
        self.rule = rule
        self.stopping = stopping
        self.warmup = (warmup_iters, warmup_max_time_s)
        self.launches = launches
        self.rng = random.Random(seed)
        self.clock = clock
        self.confidence = confidence
        self.results = {name: WorkerResult(name) for name in workers}
        self.schedule: list[dict] = []
        self.failed: set[str] = set()
        self.groups: list[GroupOutcome] = []
        launch_plan(stopping, launches)  # refuses launches > min_rounds before anything starts

    # ---- one group ---------------------------------------------------------------------------

    def run_group(self, members: Sequence[str], pairs: Sequence[tuple[str, str]], sizes_mb=None, budget_mb=None):
        """Measure ``members`` in interleaved rounds until the stopping rule says stop. With a
        budget, each worker's measured size replaces its entry in ``sizes_mb`` as it starts, and
        the group is given up (``given_up``), its workers closed, as soon as the sizes no longer fit."""
        index = len(self.groups)
        outcome = GroupOutcome(members=list(members), pairs=list(pairs))
        self.groups.append(outcome)
        for launch, launch_range in enumerate(launch_plan(self.stopping, self.launches)):
            alive = self._start(members, outcome, sizes_mb, budget_mb)
            outcome.launches = launch + 1
            try:
                if outcome.given_up:
                    return outcome
                for round_index in launch_range:
                    # The time limit is of rounds: starting and warming up the workers is not counted.
                    started = self.clock()
                    self._run_round(alive, index, launch, round_index)
                    outcome.rounds = round_index + 1
                    outcome.seconds += self.clock() - started
                    outcome.stop_reason = self._stop_reason(index, members, pairs, outcome)
                    if outcome.stop_reason:
                        break
            finally:
                for name in alive:
                    self.workers[name].close()
            if outcome.stop_reason or not any(m not in self.failed for m in members):
                break
        self._mark_disturbed(index, members)
        return outcome

    def _start(self, members, outcome, sizes_mb, budget_mb) -> list[str]:
        alive: list[str] = []
        for name in members:
            if name in self.failed:
                continue
            worker, result = self.workers[name], self.results[name]
            try:
                ready = worker.start()
                warmup = worker.warmup(*self.warmup)
            except WorkerError as err:
                self._fail(name, err)
                continue
            result.ready = result.ready or ready
            result.warmup = result.warmup or warmup
            alive.append(name)
            measured = resident_mb(worker)
            if measured is None or sizes_mb is None:
                continue
            sizes_mb[name] = {"mb": measured, "source": "measured"}
            if budget_mb is not None and not outcome.rounds:
                total = sum(sizes_mb[m]["mb"] for m in members if m not in self.failed)
                if total > budget_mb:
                    outcome.given_up = (
                        f"{name} measured {measured:.0f} MB: the group needs {total:.0f} MB of its "
                        f"{budget_mb:.0f} MB budget; planned again"
                    )
                    LOG.warning("%s", outcome.given_up)
                    break
        return alive

    def _fail(self, name: str, err: WorkerError) -> None:
        LOG.error("%s", err)
        self.results[name].error = str(err)
        self.failed.add(name)
        self.workers[name].close()

    def _run_round(self, alive: list[str], group: int, launch: int, round_index: int) -> None:
        order = list(alive)
        self.rng.shuffle(order)
        for position, name in enumerate(order):
            for attempt in range(self.rule.max_reruns + 1):
                start = self.clock()
                try:
                    block = self.workers[name].block(self.rule)
                except WorkerError as err:
                    self._fail(name, err)
                    alive.remove(name)
                    break
                end = self.clock()
                spread = block_spread(block["latencies_ms"])
                noisy = spread >= self.rule.noisy_iqr_ratio
                self.schedule.append(
                    {"group": group, "launch": launch, "round": round_index, "position": position,
                     "worker": name, "attempt": attempt, "started_at": start, "finished_at": end}
                )  # fmt: skip
                if not noisy or attempt == self.rule.max_reruns:
                    self.results[name].blocks.append(
                        {"group": group, "launch": launch, "round": round_index, "attempt": attempt,
                         "latencies_ms": block["latencies_ms"], "stop_reason": block.get("stop_reason"),
                         "iqr_over_median": spread, "noisy": noisy}
                    )  # fmt: skip
                    break
                LOG.info("round %d: %s block noisy (IQR/median %.3f), re-running", round_index, name, spread)

    def _round_medians(self, group: int, members: Sequence[str]) -> dict[str, dict[int, float]]:
        return {
            name: {
                b["round"]: float(np.median(b["latencies_ms"]))
                for b in self.results[name].blocks
                if b["group"] == group
            }
            for name in members
        }

    def _stop_reason(self, group: int, members, pairs, outcome: GroupOutcome) -> str | None:
        medians = self._round_medians(group, members)
        disturbed = disturbed_blocks(medians, self.stopping.disturbed_ratio)
        clean, estimates = [], []
        for cand, ref in pairs:
            if cand in self.failed or ref in self.failed:
                continue
            common = clean_rounds(medians, disturbed, cand, ref)
            clean.append(len(common))
            if common:
                estimates.append(
                    paired_ratio([medians[cand][r] for r in common], [medians[ref][r] for r in common], self.confidence)
                )
        return self.stopping.reason(outcome.rounds, clean, estimates, outcome.seconds)

    def _mark_disturbed(self, group: int, members) -> None:
        disturbed = disturbed_blocks(self._round_medians(group, members), self.stopping.disturbed_ratio)
        for name in members:
            for block in self.results[name].blocks:
                if block["group"] == group:
                    block["disturbed"] = (name, block["round"]) in disturbed

    # ---- every group, under a memory budget ---------------------------------------------------

    def run(self, pairs: Sequence[tuple[str, str]], estimates_mb: Mapping[str, float], budget_mb: float) -> dict:
        """Every pair measured inside one group that fits ``budget_mb`` (tvdeploy.measure.admission);
        groups are planned again whenever a measured size replaces an estimate. Returns the
        admission record (budget, sizes and their source, groups, what was refused and why)."""
        sizes = {name: {"mb": float(estimates_mb[name]), "source": "estimate"} for name in self.workers}
        done_pairs: set[tuple[str, str]] = set()
        measured: set[str] = set()
        plans = 0
        # Each plan either measures a group or replaces an estimate by a measurement, so this ends;
        # the bound only guards against sizes that keep changing between launches.
        while plans <= 2 * len(self.workers) + 1:
            plans += 1
            pending = [p for p in dict.fromkeys(pairs) if p not in done_pairs and not self.failed & set(p)]
            names = [n for n in self.workers if n not in self.failed]
            admission = plan_groups(names, pending, {n: sizes[n]["mb"] for n in names}, budget_mb, measured)
            if not admission.groups:
                break
            members, group_pairs = admission.groups[0], admission.group_pairs[0]
            outcome = self.run_group(members, group_pairs, sizes, budget_mb)
            if outcome.given_up:
                continue
            done_pairs.update(group_pairs)
            measured.update(m for m in members if self.results[m].blocks)
        for refused in admission.refused_deployments:
            result = self.results[refused["deployment"]]
            result.error, result.error_class = refused["error"], refused["error_class"]
        return {
            "budget_mb": round(budget_mb),
            "sizes_mb": {n: {"mb": round(s["mb"]), "source": s["source"]} for n, s in sizes.items()},
            "plans": plans,
            "groups": [g.as_dict() for g in self.groups],
            "refused_pairs": admission.refused_pairs,
            "refused_deployments": admission.refused_deployments,
        }


def run_interleaved(
    workers: dict[str, object],
    rounds: int,
    rule: BlockRule,
    warmup_iters: int,
    warmup_max_time_s: float,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
    launches: int = 1,
    stopping: StoppingRule | None = None,
    pairs: Sequence[tuple[str, str]] = (),
) -> tuple[dict[str, WorkerResult], list[dict]]:
    """Every worker in one group: interleaved rounds (``rounds`` of them, or as ``stopping``
    says), split over ``launches`` fresh starts of every worker (each started and warmed once
    per launch, then closed). A process's own luck (where its memory landed, which core its
    threads settled on) is constant within a launch, so rounds alone cannot average it out;
    relaunching lets the rounds' scatter, and so the intervals, include it. Returns the
    per-worker results and the schedule (group, launch, round, position, worker, attempt,
    start, end) in the order the blocks ran."""
    comparison = Comparison(
        workers, rule, stopping or StoppingRule.fixed(rounds), warmup_iters, warmup_max_time_s, launches, seed, clock
    )
    comparison.run_group(list(workers), pairs)
    return comparison.results, comparison.schedule
