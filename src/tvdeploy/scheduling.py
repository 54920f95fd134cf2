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
"""

from __future__ import annotations

import threading

PATCHED_FLAG = "_tvdeploy_single_timer"


def _schedule_one_reevaluation(scheduler, delay: float) -> None:
    pending = getattr(scheduler, "_tvdeploy_pending_timer", None)
    if pending is not None and pending.is_alive():
        return
    timer = threading.Timer(delay, scheduler._open_jobs.release)
    timer.daemon = True
    scheduler._tvdeploy_pending_timer = timer
    timer.start()


def keep_one_reevaluation_timer(scheduler_class=None) -> bool:
    """Patch Snakemake's JobScheduler (or ``scheduler_class``); returns False, changing nothing,
    when the class no longer has the method this works around (a newer Snakemake)."""
    if scheduler_class is None:
        from snakemake.scheduling.job_scheduler import JobScheduler as scheduler_class
    if not hasattr(scheduler_class, "_schedule_reevalutation"):
        return False
    if not getattr(scheduler_class, PATCHED_FLAG, False):
        scheduler_class._schedule_reevalutation = _schedule_one_reevaluation
        setattr(scheduler_class, PATCHED_FLAG, True)
    return True
