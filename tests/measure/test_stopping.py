"""Adaptive rounds and disturbed blocks, on synthetic round data and on fake workers of known
speed: a stable pair stops at the minimum, a noisy one runs to the maximum, a block slowed 2x as
a whole is flagged and left out, and the ratio stays within 3 % of the truth."""

import math
import random

import numpy as np
import pytest
from test_compare import RULE, VirtualMachine

from tvdeploy.measure.compare import Comparison
from tvdeploy.measure.paired import paired_ratio
from tvdeploy.measure.stopping import (
    CONVERGED,
    MAX_ROUNDS,
    MAX_SECONDS,
    NOTHING_TO_COMPARE,
    StoppingRule,
    disturbed_blocks,
    launch_plan,
    relative_half_width,
)


class NoisyWorker:
    """Blocks of ``base_ms`` times a per-block factor: log-normal noise of ``sigma``, times
    ``disturb[round]`` for the rounds a neighbour slowed down as a whole."""

    def __init__(self, name, base_ms, machine, sigma=0.0, seed=0, disturb=None):
        self.name, self.base_ms, self.machine, self.sigma = name, base_ms, machine, sigma
        self.rng = random.Random(seed)
        self.disturb = disturb or {}
        self.blocks_run = 0

    def start(self):
        return {"threads": 2}

    def warmup(self, iters, max_time_s):
        return {"iters": iters}

    def block(self, rule):
        factor = math.exp(self.rng.gauss(0, self.sigma)) * self.disturb.get(self.blocks_run, 1.0)
        self.blocks_run += 1
        latencies = [self.base_ms * factor * (1 + 0.002 * i) for i in range(5)]
        self.machine.now += sum(latencies) / 1000
        return {"latencies_ms": latencies, "stop_reason": "min_reached"}

    def close(self):
        pass


def compare(workers, pairs, stopping, launches=1):
    machine = next(iter(workers.values())).machine
    comparison = Comparison(workers, RULE, stopping, 0, 1.0, launches=launches, clock=lambda: machine.now)
    outcome = comparison.run_group(list(workers), pairs)
    return comparison, outcome


def ratio_of(comparison, cand, ref):
    kept = {
        name: {b["round"]: float(np.median(b["latencies_ms"])) for b in r.blocks if not b["disturbed"]}
        for name, r in comparison.results.items()
    }
    common = sorted(set(kept[cand]) & set(kept[ref]))
    return paired_ratio([kept[cand][r] for r in common], [kept[ref][r] for r in common])


RULE_4_TO_12 = StoppingRule(min_rounds=4, max_rounds=12, half_width=0.03)


def test_a_stable_pair_stops_at_the_minimum():
    machine = VirtualMachine(0.0, 1.0)
    workers = {
        "cand": NoisyWorker("cand", 12.0, machine, sigma=0.003, seed=1),
        "ref": NoisyWorker("ref", 10.0, machine, sigma=0.003, seed=2),
    }
    comparison, outcome = compare(workers, [("cand", "ref")], RULE_4_TO_12)
    assert (outcome.rounds, outcome.stop_reason) == (4, CONVERGED)
    assert ratio_of(comparison, "cand", "ref").ratio == pytest.approx(1.2, rel=0.01)


def test_a_noisy_pair_runs_to_the_maximum():
    machine = VirtualMachine(0.0, 1.0)
    workers = {
        "cand": NoisyWorker("cand", 12.0, machine, sigma=0.12, seed=1),
        "ref": NoisyWorker("ref", 10.0, machine, sigma=0.12, seed=2),
    }
    _, outcome = compare(workers, [("cand", "ref")], RULE_4_TO_12)
    assert (outcome.rounds, outcome.stop_reason) == (12, MAX_ROUNDS)


def test_rounds_stop_at_the_time_limit():
    machine = VirtualMachine(0.0, 1.0)
    workers = {n: NoisyWorker(n, 100.0, machine, sigma=0.2, seed=i) for i, n in enumerate(("a", "b"))}
    rule = StoppingRule(min_rounds=2, max_rounds=50, half_width=0.03, max_seconds=3.0)
    _, outcome = compare(workers, [("a", "b")], rule)
    # Each round is two blocks of ~0.5 s: the limit is reached after three rounds.
    assert outcome.stop_reason == MAX_SECONDS and outcome.rounds == 3 and outcome.seconds >= 3.0


class SlowStartingWorker(NoisyWorker):
    """Takes ``start_s`` of the machine's time to start (a detector's worker loading and compiling)."""

    def __init__(self, *args, start_s=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_s = start_s

    def start(self):
        self.machine.now += self.start_s
        return super().start()


def test_the_time_limit_counts_the_rounds_not_the_workers_starts():
    machine = VirtualMachine(0.0, 1.0)
    workers = {n: SlowStartingWorker(n, 100.0, machine, sigma=0.2, seed=i, start_s=60.0) for i, n in enumerate("ab")}
    rule = StoppingRule(min_rounds=2, max_rounds=50, half_width=0.03, max_seconds=3.0)
    _, outcome = compare(workers, [("a", "b")], rule)
    # Two minutes of starting: the same three rounds of ~1 s as without them.
    assert outcome.stop_reason == MAX_SECONDS and outcome.rounds == 3 and 3.0 <= outcome.seconds < 4.0


def test_the_minimum_rounds_run_past_the_time_limit():
    machine = VirtualMachine(0.0, 1.0)
    workers = {n: NoisyWorker(n, 100.0, machine, sigma=0.2, seed=i) for i, n in enumerate("ab")}
    rule = StoppingRule(min_rounds=4, max_rounds=50, half_width=0.03, max_seconds=0.5)
    _, outcome = compare(workers, [("a", "b")], rule)
    assert outcome.stop_reason == MAX_SECONDS and outcome.rounds == 4


@pytest.mark.parametrize("others", [0, 2])
def test_a_block_slowed_twice_as_a_whole_is_flagged_and_the_ratio_stays_true(others):
    machine = VirtualMachine(0.0, 1.0)
    # The candidate's third block ran beside a neighbour for its whole length: 2x slower, steady.
    workers = {
        "cand": NoisyWorker("cand", 11.0, machine, sigma=0.01, seed=1, disturb={2: 2.0}),
        "ref": NoisyWorker("ref", 15.0, machine, sigma=0.01, seed=2),
    }
    workers.update(
        {f"other{i}": NoisyWorker(f"other{i}", 20.0, machine, sigma=0.01, seed=3 + i) for i in range(others)}
    )
    rule = StoppingRule(min_rounds=5, max_rounds=5, half_width=0.03)
    comparison, outcome = compare(workers, [("cand", "ref")], rule)
    flagged = [(n, b["round"]) for n, r in comparison.results.items() for b in r.blocks if b["disturbed"]]
    assert flagged == [("cand", 2)]
    estimate = ratio_of(comparison, "cand", "ref")
    assert estimate.ratio == pytest.approx(11 / 15, rel=0.03) and estimate.rounds == 4
    # Pooled without the flag, the disturbed round would have moved the ratio by 15 %.
    everything = {n: [float(np.median(b["latencies_ms"])) for b in r.blocks] for n, r in comparison.results.items()}
    assert paired_ratio(everything["cand"], everything["ref"]).ratio > 11 / 15 * 1.1


def test_a_disturbed_round_is_replaced_by_another_round():
    machine = VirtualMachine(0.0, 1.0)
    workers = {
        "cand": NoisyWorker("cand", 11.0, machine, sigma=0.003, seed=1, disturb={1: 2.0}),
        "ref": NoisyWorker("ref", 15.0, machine, sigma=0.003, seed=2),
    }
    comparison, outcome = compare(workers, [("cand", "ref")], RULE_4_TO_12)
    # Four undisturbed rounds are needed: the flagged one is made up by a fifth.
    assert (outcome.rounds, outcome.stop_reason) == (5, CONVERGED)
    assert ratio_of(comparison, "cand", "ref").rounds == 4


def test_the_regnet_rounds_seen_here_are_flagged():
    # regnet_y_400mf's ts-python/plain round medians beside a steady ts-cpp/plain (issue 28).
    medians = {
        "ts-python/plain": dict(enumerate([15.3, 15.3, 32.2, 14.8, 14.8])),
        "ts-cpp/plain": dict(enumerate([11.1, 11.0, 11.2, 11.1, 11.1])),
    }
    assert disturbed_blocks(medians, 0.30) == {("ts-python/plain", 2)}


def test_a_slowdown_shared_by_the_whole_round_is_drift_not_a_disturbance():
    factors = [1.0, 1.0, 1.8, 1.0, 1.0]  # the whole machine was slow in round 2
    medians = {name: {r: base * f for r, f in enumerate(factors)} for name, base in (("a", 10), ("b", 12), ("c", 7))}
    assert disturbed_blocks(medians, 0.30) == set()


def test_too_few_rounds_flag_nothing():
    assert disturbed_blocks({"a": {0: 10.0, 1: 30.0}, "b": {0: 10.0, 1: 10.0}}, 0.30) == set()


def test_the_stopping_rule_on_synthetic_estimates():
    rule = StoppingRule(min_rounds=4, max_rounds=10, half_width=0.03, max_seconds=100)
    narrow = paired_ratio([1.20, 1.21, 1.19, 1.20], [1.0, 1.0, 1.0, 1.0])
    wide = paired_ratio([1.0, 1.5, 0.8, 1.2], [1.0, 1.0, 1.0, 1.0])
    assert relative_half_width(narrow) < 0.03 < relative_half_width(wide)
    assert rule.reason(3, [3], [narrow], 1.0) is None  # too few rounds
    assert rule.reason(4, [4], [narrow], 1.0) == CONVERGED
    assert rule.reason(5, [3], [narrow], 1.0) is None  # a pair has only three undisturbed rounds
    assert rule.reason(4, [4, 4], [narrow, wide], 1.0) is None
    assert rule.reason(10, [10, 10], [narrow, wide], 1.0) == MAX_ROUNDS
    assert rule.reason(6, [6, 6], [narrow, wide], 100.0) == MAX_SECONDS
    assert rule.reason(3, [3, 3], [narrow, wide], 100.0) is None  # the minimum runs whatever it costs
    assert rule.reason(4, [], [], 1.0) == NOTHING_TO_COMPARE
    assert relative_half_width(paired_ratio([1.0], [1.0])) == math.inf
    with pytest.raises(ValueError, match="min_rounds"):
        StoppingRule(min_rounds=5, max_rounds=4, half_width=0.03)


def test_launches_split_the_minimum_then_continue_at_the_same_length():
    rule = StoppingRule(min_rounds=4, max_rounds=9, half_width=0.03)
    assert launch_plan(rule, 2) == [range(0, 2), range(2, 4), range(4, 6), range(6, 8), range(8, 9)]
    assert launch_plan(StoppingRule.fixed(5), 2) == [range(0, 2), range(2, 5)]
    with pytest.raises(ValueError, match="launches \\(5\\) <= rounds \\(4\\)"):
        launch_plan(rule, 5)


def test_a_pair_without_an_undisturbed_round_in_common_says_so():
    from tvdeploy.measure.compare import WorkerResult
    from tvdeploy.measure.summary import summarize_comparison

    def blocks(flags):
        return [
            {"group": 0, "round": r, "latencies_ms": [10.0, 10.0, 10.0], "noisy": False, "disturbed": flag}
            for r, flag in enumerate(flags)
        ]

    results = {
        "eager/plain": WorkerResult("eager/plain", blocks=blocks([True, False, False])),
        "ts-python/plain": WorkerResult("ts-python/plain", blocks=blocks([False, True, True])),
    }
    pair = {"kind": "vs_eager", "candidate": ["ts-python", "plain"], "reference": ["eager", "plain"]}
    deployments, (row,) = summarize_comparison(results, [pair], 1, 0.95, 0.03)
    assert row["verdict"] is None and row["rounds"] == 0
    assert row["error"] == "no undisturbed round in common: each of the 3 shared rounds had a disturbed block"
    assert deployments["ts-python/plain"]["summary"]["disturbed_blocks"] == 2
