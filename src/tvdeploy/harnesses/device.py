"""Device choice and thread settings shared by the Python harnesses, the worker and the probes."""

from __future__ import annotations

import torch

from tvdeploy.host.environment import cpu_info


class DeviceError(RuntimeError):
    """The requested device cannot be used on this machine."""


def has_kernels_for(capability: tuple[int, int], arch_list: list[str]) -> bool:
    """Whether a torch build with ``arch_list`` (``torch.cuda.get_arch_list()``) runs on a GPU of
    ``capability``: a cubin of the same major version and an equal or lower minor one, or PTX of an
    equal or lower version (compiled for the GPU at load time)."""
    major, minor = capability
    for arch in arch_list:
        kind, _, number = arch.partition("_")
        digits = "".join(ch for ch in number if ch.isdigit())
        if len(digits) < 2:
            continue
        arch_major, arch_minor = int(digits[:-1]), int(digits[-1])
        if kind == "sm" and arch_major == major and arch_minor <= minor:
            return True
        if kind == "compute" and (arch_major, arch_minor) <= (major, minor):
            return True
    return False


def check_cuda_capability(index: int = 0) -> None:
    """Refuse a GPU this torch build has no kernels for (it would fail later with "no kernel image
    is available"); a cluster's GPU nodes may be newer or older than the wheel supports."""
    capability = torch.cuda.get_device_capability(index)
    arch_list = torch.cuda.get_arch_list()
    if arch_list and not has_kernels_for(capability, arch_list):
        raise DeviceError(
            f"{torch.cuda.get_device_name(index)} has compute capability {capability[0]}.{capability[1]}, "
            f"but torch {torch.__version__} carries kernels for {', '.join(arch_list)} only; "
            "install a torch build for this GPU or run on another GPU partition"
        )


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            "device 'cuda' requested but no CUDA device is available "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            "use `devices: [cpu]` or `devices: [auto]`"
        )
    if requested not in ("cpu", "cuda"):
        raise DeviceError(f"unknown device '{requested}' (expected cpu, cuda or auto)")
    if requested == "cuda":
        check_cuda_capability()
    return torch.device(requested)


def synchronizer(device: torch.device):
    """A callable that waits until all queued work on ``device`` is done."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def apply_threads(threads: int, interop_threads: int) -> dict:
    """Set intra-/inter-op threads the same way the C++ harness does; 0 keeps torch's default.

    Inter-op threads can only be set before any parallel work, so call this first.
    """
    if interop_threads > 0:
        torch.set_num_interop_threads(interop_threads)
    if threads > 0:
        torch.set_num_threads(threads)
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    # The CPU's model name, as environment.json and the C++ bench name it (not "x86_64").
    return cpu_info()["model"]
