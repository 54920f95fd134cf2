"""The Snakemake scheduler workaround: one pending re-evaluation timer, as a daemon thread, and a
loud refusal or fallback when the Snakemake internals it touches change."""

import threading
import time

import pytest

from tvdeploy.plan.scheduling import SchedulerPatchError, keep_one_reevaluation_timer


class FakeScheduler:
    def __init__(self):
        self._open_jobs = threading.Semaphore(0)

    def _schedule_reevalutation(self, delay):
        threading.Timer(delay, self._open_jobs.release).start()


def pending_timers():
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


def test_one_pending_timer_however_often_asked():
    keep_one_reevaluation_timer(FakeScheduler)
    scheduler = FakeScheduler()
    before = len(pending_timers())
    for _ in range(20):  # 20 finished jobs each asking for a re-evaluation
        scheduler._schedule_reevalutation(0.2)
    assert len(pending_timers()) == before + 1
    assert scheduler._tvdeploy_pending_timer.daemon  # never holds Snakemake's exit
    assert scheduler._open_jobs.acquire(timeout=5)  # the re-evaluation still happens
    assert not scheduler._open_jobs.acquire(timeout=0.5)  # once, not 20 times
    time.sleep(0.05)
    scheduler._schedule_reevalutation(0.01)  # the next pass arms the next timer
    assert scheduler._open_jobs.acquire(timeout=5)


def test_patch_applies_to_installed_snakemake():
    from snakemake.scheduling.job_scheduler import JobScheduler

    keep_one_reevaluation_timer()  # raises if the pinned Snakemake changed: revisit scheduling.py
    assert JobScheduler._tvdeploy_single_timer


def test_refuses_when_snakemake_lacks_the_method():
    class Other:
        pass

    with pytest.raises(SchedulerPatchError, match="has no _schedule_reevalutation"):
        keep_one_reevaluation_timer(Other)
    assert not hasattr(Other, "_schedule_reevalutation")


def test_refuses_when_the_method_signature_changed():
    class Renamed:
        def _schedule_reevalutation(self, delay, reason):
            pass

    original = Renamed._schedule_reevalutation
    with pytest.raises(SchedulerPatchError, match="expected \\['self', 'delay'\\]"):
        keep_one_reevaluation_timer(Renamed)
    assert Renamed._schedule_reevalutation is original


def test_falls_back_to_stock_timers_with_a_warning_when_the_semaphore_is_gone():
    calls = []

    class NoSemaphore:
        def _schedule_reevalutation(self, delay):
            calls.append(delay)

    keep_one_reevaluation_timer(NoSemaphore)
    with pytest.warns(RuntimeWarning, match="no _open_jobs.release"):
        NoSemaphore()._schedule_reevalutation(0.5)
    NoSemaphore()._schedule_reevalutation(0.25)  # warned once, still stock behaviour
    assert calls == [0.5, 0.25]
