"""Measuring what a worker process does while it waits."""

import time

import psutil


def idle_cpu_seconds(pid: int, seconds: float = 2.0) -> float:
    """CPU time (user + system, all threads) the process uses during ``seconds`` of waiting."""
    process = psutil.Process(pid)
    before = process.cpu_times()
    time.sleep(seconds)
    after = process.cpu_times()
    return (after.user + after.system) - (before.user + before.system)
