"""A whole-catalog run on a small disk: each model's jobs before the next model's, so that its
temporary artifacts (``export.keep_artifacts: false``) are measured and deleted before the next
models' pile up.

Two parts, both needed:

- ``ModelOrder``: rule priorities that follow the model list (Snakemake's ``priority:``, a
  function of the wildcards): the earlier a model, the higher all of its jobs; the jobs every
  model needs (the C++ programs, the preprocessed inputs) above them; the rest (tables, figures,
  the harness overhead probe) at Snakemake's default 0.
- ``schedule_in_priority_order``: Snakemake's greedy scheduler fills free cores with any ready
  job that fits, whatever its priority. A comparison claims every core, so on a busy machine it
  never fits while another model's export holds one core and the free core goes to the next
  export: with priorities alone every comparison ran after the last export of the last model
  (checked with Snakemake 9.27, tests/workflow/test_model_order_run.py). The patched selection
  goes through the ready jobs by priority, highest first, and starts no lower-priority job while
  a job of a higher priority waits for resources.

Together, once the shared jobs are done, a model starts only while every unfinished earlier model
has a job running, so at most as many models as the run has cores hold artifacts at once. The
cost: a core may idle while a comparison waits for the other one to free.

The patch touches only the public method of Snakemake's scheduler plugin interface,
``select_jobs(self, selectable_jobs, remaining_jobs, available_resources, input_sizes)``, of the
built-in greedy scheduler (the profile's ``scheduler: greedy``; the ILP scheduler keeps
Snakemake's own weighting of priorities). When its signature differs it refuses
(``SchedulerPatchError``) and Snakemake runs stock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tvdeploy.plan.scheduling import method_to_patch

PATCHED_FLAG = "_tvdeploy_priority_order"
SELECT_METHOD = "select_jobs"
SELECT_PARAMETERS = ["self", "selectable_jobs", "remaining_jobs", "available_resources", "input_sizes"]


@dataclass(frozen=True)
class ModelOrder:
    """Job priorities from the order of the run's models."""

    models: tuple[str, ...]
    _rank: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_rank", {m: i for i, m in enumerate(self.models)})

    def priority(self, model: str) -> int:
        """The first model's jobs get len(models), the last one's 1. A model outside the list (a
        target the config does not select) ranks with the last."""
        return len(self.models) - self._rank.get(model, len(self.models) - 1)

    @property
    def shared(self) -> int:
        """Jobs that every model needs: above every model."""
        return len(self.models) + 1


def select_in_priority_order(
    select: Callable[[list, dict], Sequence], jobs: Sequence, resources: Mapping[str, int]
) -> list:
    """Pick ready jobs one priority level at a time, highest first, each level by ``select(jobs,
    resources)`` (the greedy knapsack) within what the levels above left; stop after the first
    level of which a job had to wait, so that lower priorities do not take the resources it waits
    for."""
    left = dict(resources)
    picked: list = []
    for priority in sorted({job.priority for job in jobs}, reverse=True):
        level = [job for job in jobs if job.priority == priority]
        chosen = list(select(level, dict(left)))
        picked += chosen
        for name in left:
            left[name] -= sum(job.scheduler_resources.get(name, 0) for job in chosen)
        if len(chosen) < len(level):
            break
    return picked


def schedule_in_priority_order(scheduler_class=None) -> None:
    """Patch Snakemake's greedy scheduler (or ``scheduler_class``) once; raise
    SchedulerPatchError, changing nothing, when ``select_jobs`` is missing or has another
    signature."""
    if scheduler_class is None:
        from snakemake.scheduling.greedy import Scheduler as scheduler_class
    if getattr(scheduler_class, PATCHED_FLAG, False):
        return
    original = method_to_patch(
        scheduler_class,
        SELECT_METHOD,
        SELECT_PARAMETERS,
        "jobs are picked by Snakemake's stock greedy scheduler, models' artifacts may pile up",
    )

    def select_jobs(self, selectable_jobs, remaining_jobs, available_resources, input_sizes):
        def greedy(jobs, resources):
            return original(self, jobs, remaining_jobs, resources, input_sizes) or []

        return select_in_priority_order(greedy, list(selectable_jobs), available_resources)

    setattr(scheduler_class, SELECT_METHOD, select_jobs)
    setattr(scheduler_class, PATCHED_FLAG, True)
