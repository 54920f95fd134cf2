"""Each model's jobs before the next model's (tvdeploy.plan.model_order): priorities from the model
list, and a job selection that starts no lower priority while a higher one waits for resources."""

from dataclasses import dataclass, field

import pytest

from tvdeploy.plan.model_order import ModelOrder, schedule_in_priority_order, select_in_priority_order
from tvdeploy.plan.scheduling import SchedulerPatchError


def test_earlier_models_rank_higher_and_shared_jobs_above_every_model():
    order = ModelOrder(("resnet18", "alexnet", "vgg11"))
    assert [order.priority(m) for m in order.models] == [3, 2, 1]
    assert order.shared == 4
    # A target outside the list ranks with the last model, above the tables (Snakemake's default 0).
    assert order.priority("googlenet") == 1


@dataclass(eq=False)
class Job:
    name: str
    priority: int
    scheduler_resources: dict = field(default_factory=dict)


def first_fit(jobs, resources):
    """A stand-in for Snakemake's greedy knapsack: every job that still fits, in the given order."""
    left, chosen = dict(resources), []
    for job in jobs:
        if all(job.scheduler_resources.get(k, 0) <= v for k, v in left.items()):
            chosen.append(job)
            left = {k: v - job.scheduler_resources.get(k, 0) for k, v in left.items()}
    return chosen


def cores(n):
    return {"_cores": n}


def test_a_waiting_comparison_keeps_the_free_core_from_the_next_models_exports():
    # One core is busy (1 left); model 1's comparison needs both; model 2's export would fit.
    compare = Job("compare m1", 3, cores(2))
    export = Job("export m2", 2, cores(1))
    assert first_fit([compare, export], cores(1)) == [export]  # what the stock greedy does
    assert select_in_priority_order(first_fit, [export, compare], cores(1)) == []
    # Once both cores are free, the comparison runs.
    assert select_in_priority_order(first_fit, [export, compare], cores(2)) == [compare]


def test_lower_priorities_fill_what_higher_levels_leave():
    infer = Job("infer m1", 3, cores(1))
    exports = [Job(f"export m{i}", 3 - i, cores(1)) for i in (1, 2)]
    report = Job("aggregate", 0, cores(1))
    picked = select_in_priority_order(first_fit, [report, *exports, infer], cores(2))
    assert picked == [infer, exports[0]]
    # Every job of a level fits: the next level gets the rest; a level that waits stops the scan.
    assert select_in_priority_order(first_fit, [report, infer], cores(2)) == [infer, report]
    big = Job("export big", 2, {"_cores": 1, "mem_mb": 9000})
    picked = select_in_priority_order(first_fit, [infer, big, report], {"_cores": 2, "mem_mb": 8000})
    assert picked == [infer]


def test_each_level_sees_only_what_the_levels_above_left():
    seen = []

    def recording(jobs, resources):
        seen.append(dict(resources))
        return first_fit(jobs, resources)

    jobs = [Job("a", 2, {"_cores": 1, "mem_mb": 3000}), Job("b", 1, {"_cores": 1, "mem_mb": 1000})]
    assert select_in_priority_order(recording, jobs, {"_cores": 2, "mem_mb": 5000}) == jobs
    assert seen == [{"_cores": 2, "mem_mb": 5000}, {"_cores": 1, "mem_mb": 2000}]


def test_patch_applies_to_installed_snakemake_and_keeps_its_knapsack():
    from snakemake.scheduling.greedy import Scheduler, SchedulerSettings

    schedule_in_priority_order()  # raises if the pinned Snakemake changed: revisit model_order.py
    assert Scheduler._tvdeploy_priority_order
    scheduler = Scheduler(None, SchedulerSettings(omit_prioritize_by_temp_and_input=True), None)
    compare = Job("compare m1", 3, {"_cores": 2, "_job_count": 1})
    export = Job("export m2", 2, {"_cores": 1, "_job_count": 1})
    free_core = {"_cores": 1, "_job_count": 100}
    assert scheduler.select_jobs([export, compare], [], free_core, {}) == []
    assert scheduler.select_jobs([export, compare], [], {"_cores": 2, "_job_count": 100}, {}) == [compare]


def test_refuses_when_snakemake_lacks_the_method_or_changed_it():
    class Other:
        pass

    with pytest.raises(SchedulerPatchError, match="has no select_jobs"):
        schedule_in_priority_order(Other)

    class Renamed:
        def select_jobs(self, jobs, resources):
            return jobs

    original = Renamed.select_jobs
    with pytest.raises(SchedulerPatchError, match="takes \\['self', 'jobs', 'resources'\\]"):
        schedule_in_priority_order(Renamed)
    assert Renamed.select_jobs is original
