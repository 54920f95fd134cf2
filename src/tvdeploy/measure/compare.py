"""Interleaved comparison of long-lived harness workers (one per runtime × variant).

Each worker is a process that loads its deployment once, warms it up once (bounded by
iterations and by seconds) and then answers "run a timed block" requests, one JSON line each,
on its stdin/stdout (the protocol is in ``tvdeploy.measure.worker``; the C++ ``bench --serve`` speaks
the same). In every round each worker times one block, in a freshly shuffled order, strictly one
at a time: a worker that is not timing waits in a blocking read, using no CPU. A block whose
spread is too large is re-run (a bounded number of times) and flagged if it stays noisy, never
silently pooled. A worker that fails is recorded with its error; the others go on.

Torch-free: the coordinator only starts processes and reads their answers.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tvdeploy.measure.bench import summarize_rounds
from tvdeploy.measure.paired import paired_ratio
from tvdeploy.registry import Deployment

LOG = logging.getLogger("tvdeploy.measure.compare")


class WorkerError(RuntimeError):
    """A worker failed; the message names the deployment and the model."""


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


class ProcessWorker:
    """A worker process speaking JSON lines: one request on stdin, one answer on stdout. Its
    stderr goes to ``log`` (the rule's log file)."""

    def __init__(self, name: str, model: str, command: list[str], log=None, env: dict | None = None):
        self.name = name
        self.model = model
        self.command = command
        self._log = log
        self._env = env
        self._process: subprocess.Popen | None = None
        self.ready: dict = {}

    def _fail(self, what: str) -> WorkerError:
        code = self._process.poll() if self._process else None
        status = f" (exit status {code})" if code is not None else ""
        return WorkerError(f"{self.name} worker for {self.model}: {what}{status}; its messages are in the log")

    def _read(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(timeout=30)
            raise self._fail("exited unexpectedly")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as err:
            raise self._fail(f"answered something that is not JSON ({line[:200]!r})") from err
        if not answer.get("ok", False):
            raise self._fail(f"reported an error: {answer.get('error', answer)}")
        return answer

    def start(self) -> dict:
        LOG.info("starting %s: %s", self.name, " ".join(self.command))
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=self._env,
        )
        self.ready = self._read().get("ready", {})
        return self.ready

    def request(self, message: dict) -> dict:
        if self._process is None or self._process.poll() is not None:
            raise self._fail("is not running")
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError as err:
            raise self._fail("closed its input") from err
        return self._read()

    def warmup(self, iters: int, max_time_s: float) -> dict:
        return self.request({"op": "warmup", "iters": iters, "max_time_s": max_time_s})

    def block(self, rule: BlockRule) -> dict:
        return self.request(rule.request())

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                self._process.kill()
                self._process.wait()
        self._process = None


@dataclass
class WorkerResult:
    name: str
    ready: dict = field(default_factory=dict)
    warmup: dict = field(default_factory=dict)
    blocks: list[dict] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "ready": self.ready,
            "warmup": self.warmup,
            "blocks": self.blocks,
            "error": self.error,
        }


def launch_rounds(rounds: int, launches: int) -> list[range]:
    """Split ``rounds`` into ``launches`` consecutive groups as even as possible."""
    if not 1 <= launches <= rounds:
        raise ValueError(f"need 1 <= launches ({launches}) <= rounds ({rounds})")
    bounds = [round(i * rounds / launches) for i in range(launches + 1)]
    return [range(a, b) for a, b in zip(bounds, bounds[1:], strict=False)]


def run_interleaved(
    workers: dict[str, object],
    rounds: int,
    rule: BlockRule,
    warmup_iters: int,
    warmup_max_time_s: float,
    seed: int = 0,
    clock: Callable[[], float] = time.time,
    launches: int = 1,
) -> tuple[dict[str, WorkerResult], list[dict]]:
    """``rounds`` rounds of one block per worker in a shuffled order, split over ``launches``
    fresh starts of every worker (each started and warmed once per launch, then closed). A
    process's own luck (where its memory landed, which core its threads settled on) is constant
    within a launch, so rounds alone cannot average it out; relaunching lets the rounds' scatter,
    and so the intervals, include it. Returns the per-worker results and the schedule (launch,
    round, position, worker, attempt, start, end) in the order the blocks ran."""
    rng = random.Random(seed)
    results = {name: WorkerResult(name) for name in workers}
    failed: set[str] = set()
    schedule: list[dict] = []
    for launch, launch_range in enumerate(launch_rounds(rounds, launches)):
        alive: list[str] = []
        for name, worker in workers.items():
            if name in failed:
                continue
            try:
                ready = worker.start()
                warmup = worker.warmup(warmup_iters, warmup_max_time_s)
                results[name].ready = results[name].ready or ready
                results[name].warmup = results[name].warmup or warmup
                alive.append(name)
            except WorkerError as err:
                LOG.error("%s", err)
                results[name].error = str(err)
                failed.add(name)
                worker.close()
        try:
            _run_rounds(workers, results, alive, failed, launch, launch_range, rule, rng, clock, schedule)
        finally:
            for name in alive:
                workers[name].close()
    return results, schedule


def _run_rounds(workers, results, alive, failed, launch, launch_range, rule, rng, clock, schedule) -> None:
    for round_index in launch_range:
        order = list(alive)
        rng.shuffle(order)
        for position, name in enumerate(order):
            for attempt in range(rule.max_reruns + 1):
                start = clock()
                try:
                    block = workers[name].block(rule)
                except WorkerError as err:
                    LOG.error("%s", err)
                    results[name].error = str(err)
                    failed.add(name)
                    alive.remove(name)
                    workers[name].close()
                    break
                end = clock()
                spread = block_spread(block["latencies_ms"])
                noisy = spread >= rule.noisy_iqr_ratio
                schedule.append(
                    {
                        "launch": launch,
                        "round": round_index,
                        "position": position,
                        "worker": name,
                        "attempt": attempt,
                        "started_at": start,
                        "finished_at": end,
                    }
                )
                if not noisy or attempt == rule.max_reruns:
                    results[name].blocks.append(
                        {
                            "launch": launch,
                            "round": round_index,
                            "attempt": attempt,
                            "latencies_ms": block["latencies_ms"],
                            "stop_reason": block.get("stop_reason"),
                            "iqr_over_median": spread,
                            "noisy": noisy,
                        }
                    )
                    break
                LOG.info("round %d: %s block noisy (IQR/median %.3f), re-running", round_index, name, spread)


def summarize_comparison(
    results: dict[str, WorkerResult],
    pairs: list[dict],
    batch_size: int,
    confidence: float,
    resolution: float,
) -> tuple[dict, list[dict]]:
    """Per deployment: the pooled per-iteration statistics and the per-round medians; per pair:
    the paired ratio over the rounds both sides completed (see tvdeploy.measure.paired)."""
    deployments = {}
    for name, result in results.items():
        entry = result.as_dict()
        if result.blocks:
            # One kept block per round, in round order: the protocol's pooled summary and per-round
            # medians and spread, plus how many blocks stayed noisy after their re-runs.
            summary = summarize_rounds(result.blocks, batch_size)
            summary["noisy_blocks"] = sum(b["noisy"] for b in result.blocks)
            entry["summary"] = summary
            entry["round_medians"] = dict(
                zip((b["round"] for b in result.blocks), summary["round_medians_ms"], strict=True)
            )
        deployments[name] = entry

    comparisons = []
    for pair in pairs:
        cand, ref = Deployment(*pair["candidate"]).key, Deployment(*pair["reference"]).key
        row = {"kind": pair["kind"], "candidate": cand, "reference": ref}
        cand_medians = deployments[cand].get("round_medians", {})
        ref_medians = deployments[ref].get("round_medians", {})
        common = sorted(set(cand_medians) & set(ref_medians))
        if common:
            estimate = paired_ratio(
                [cand_medians[r] for r in common], [ref_medians[r] for r in common], confidence, resolution
            )
            row.update(estimate.as_dict())
        else:
            row.update({"rounds": 0, "verdict": None, "error": deployments[cand]["error"] or deployments[ref]["error"]})
        comparisons.append(row)
    for entry in deployments.values():
        entry.pop("round_medians", None)
    return deployments, comparisons
