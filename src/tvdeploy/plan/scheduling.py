"""A workaround for Snakemake's scheduler loop, so that it stays quiet beside a CPU benchmark.

Snakemake 9 limits job starts with a rate limiter (``--max-jobs-per-timespan``, default
``100/1s``). After every scheduling pass it arms a ``threading.Timer`` that re-runs the scheduler
when the timespan is over, and that re-run arms the next one. Every job that finishes also starts
a pass, and so a new chain of timers: after N finished jobs the scheduler re-plans about N times
per timespan. Measured on the 2-core machine this project runs on, the main Snakemake process
used 55 % of a core after 150 finished jobs (153 threads), beside benchmarks that were meant to
have the machine to themselves. The timers are also non-daemon threads, so a longer timespan
makes Snakemake wait that long before it exits.

``keep_one_reevaluation_timer`` keeps at most one pending re-evaluation timer per scheduler, as a
daemon thread. Job completions still wake the scheduler immediately, and a pass still happens at
least once per timespan, so rate limiting behaves as before.

It touches two private names of Snakemake's ``JobScheduler`` (tested with the pinned 9.27):
the method ``_schedule_reevalutation(self, delay)`` and the semaphore ``self._open_jobs``. When the
method is gone or has another signature, the patch refuses (``SchedulerPatchError``) and Snakemake
runs stock; when a scheduler lacks the semaphore, the patched method warns once and calls the
original.
"""

from __future__ import annotations

import inspect
import threading
import warnings

PATCHED_FLAG = "_tvdeploy_single_timer"
METHOD = "_schedule_reevalutation"
SEMAPHORE = "_open_jobs"


class SchedulerPatchError(RuntimeError):
    """Snakemake's scheduler internals are not what the workaround expects."""


def _make_single_timer_method(original):
    warned = []

    def schedule_one_reevaluation(scheduler, delay: float) -> None:
        semaphore = getattr(scheduler, SEMAPHORE, None)
        if not callable(getattr(semaphore, "release", None)):
            if not warned:
                warned.append(True)
                warnings.warn(
                    f"tvdeploy: Snakemake's JobScheduler has no {SEMAPHORE}.release; using its own "
                    "re-evaluation timers (the main process may use more CPU beside benchmarks)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return original(scheduler, delay)
        pending = getattr(scheduler, "_tvdeploy_pending_timer", None)
        if pending is not None and pending.is_alive():
            return None
        timer = threading.Timer(delay, semaphore.release)
        timer.daemon = True
        scheduler._tvdeploy_pending_timer = timer
        timer.start()
        return None

    return schedule_one_reevaluation


def method_to_patch(scheduler_class, name: str, parameters: list[str], fallback: str):
    """``scheduler_class``'s method ``name``, checked to take ``parameters``; SchedulerPatchError
    naming what Snakemake does instead (``fallback``) when it is missing or takes others."""
    original = getattr(scheduler_class, name, None)
    if original is None:
        raise SchedulerPatchError(
            f"{scheduler_class.__name__} has no {name} (a Snakemake other than the pinned one?): {fallback}"
        )
    found = list(inspect.signature(original).parameters)
    if found != parameters:
        raise SchedulerPatchError(f"{scheduler_class.__name__}.{name} takes {found}, expected {parameters}: {fallback}")
    return original


def keep_one_reevaluation_timer(scheduler_class=None) -> None:
    """Patch Snakemake's JobScheduler (or ``scheduler_class``) once; raise SchedulerPatchError,
    changing nothing, when the method it replaces is missing or has another signature."""
    if scheduler_class is None:
        from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
    if getattr(scheduler_class, PATCHED_FLAG, False):
        return
    original = method_to_patch(
        scheduler_class,
        METHOD,
        ["self", "delay"],
        "running its stock scheduler; check the main process's CPU use during benchmarks",
    )
    setattr(scheduler_class, METHOD, _make_single_timer_method(original))
    setattr(scheduler_class, PATCHED_FLAG, True)
