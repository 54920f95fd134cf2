"""Device resolution at parse time (torch-free) and the cores a job may use."""

import os

from tvdeploy.devices import available_cores, resolve_devices


def test_auto_device_follows_the_machine():
    assert resolve_devices(["auto"], has_gpu=lambda: False) == ["cpu"]
    assert resolve_devices(["auto"], has_gpu=lambda: True) == ["cuda"]
    assert resolve_devices(["cpu", "auto", "cuda"], has_gpu=lambda: True) == ["cpu", "cuda"]
    assert resolve_devices(["cuda"], has_gpu=lambda: False) == ["cuda"]  # explicit choice kept (cluster)


def test_available_cores_is_the_affinity_not_the_machine():
    assert available_cores() == len(os.sched_getaffinity(0)) >= 1
