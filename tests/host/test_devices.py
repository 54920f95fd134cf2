"""Device resolution at parse time (torch-free) and the cores a job may use."""

import os

import pytest

from tvdeploy.host.devices import available_cores, resolve_devices


def test_auto_device_follows_the_machine():
    assert resolve_devices(["auto"], has_gpu=lambda: False) == ["cpu"]
    assert resolve_devices(["auto"], has_gpu=lambda: True) == ["cuda"]
    assert resolve_devices(["cpu", "auto", "cuda"], has_gpu=lambda: True) == ["cpu", "cuda"]
    assert resolve_devices(["cuda"], has_gpu=lambda: False) == ["cuda"]  # explicit choice kept (cluster)


def test_available_cores_is_the_affinity_not_the_machine():
    assert available_cores() == len(os.sched_getaffinity(0)) >= 1


def test_kernel_images_cover_a_gpu_of_the_same_major_or_by_ptx():
    from tvdeploy.harnesses.device import has_kernels_for

    wheel = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert has_kernels_for((9, 0), wheel)  # H100
    assert has_kernels_for((8, 9), wheel)  # L40S runs the sm_86 cubin
    assert not has_kernels_for((7, 0), wheel)  # V100: older than every cubin
    assert not has_kernels_for((6, 1), ["sm_75", "compute_75"])  # PTX only runs on newer GPUs
    assert has_kernels_for((10, 3), ["sm_90", "compute_90"])  # PTX is compiled for newer GPUs


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    from tvdeploy.harnesses.device import DeviceError, resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError, match="no CUDA device is available"):
        resolve_device("cuda")


def test_a_cpu_is_named_by_its_model_as_in_environment_json():
    import torch

    from tvdeploy.harnesses.device import device_name
    from tvdeploy.host.environment import cpu_info

    assert device_name(torch.device("cpu")) == cpu_info()["model"]
    assert device_name(torch.device("cpu")) != "x86_64" or not open("/proc/cpuinfo").read().count("model name")
