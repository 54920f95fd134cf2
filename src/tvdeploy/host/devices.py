"""Which devices a run targets, decided without importing torch (parsing must stay fast)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

NVIDIA_PROC_DIR = Path("/proc/driver/nvidia/gpus")


def machine_has_gpu() -> bool:
    """Whether the machine running this has an NVIDIA GPU (driver entries or nvidia-smi)."""
    if NVIDIA_PROC_DIR.is_dir() and any(NVIDIA_PROC_DIR.iterdir()):
        return True
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def resolve_devices(requested: list[str], has_gpu=machine_has_gpu) -> list[str]:
    """Expand ``auto`` to ``cuda`` or ``cpu`` for this machine; keep explicit choices, drop repeats.

    A cluster whose submit host has no GPU should list ``cuda`` explicitly.
    """
    devices: list[str] = []
    for device in requested:
        if device == "auto":
            device = "cuda" if has_gpu() else "cpu"
        if device not in devices:
            devices.append(device)
    return devices


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a SLURM or taskset allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


CPUINFO = Path("/proc/cpuinfo")


def cpuinfo_field(name: str, cpuinfo: Path = CPUINFO) -> str | None:
    """The first processor's ``name`` line of /proc/cpuinfo (None where there is none)."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def read_cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The instruction-set flags of this machine's CPU (the first processor's ``flags`` line)."""
    return frozenset((cpuinfo_field("flags", cpuinfo) or "").split())


def lscpu_field(name: str) -> str | None:
    """The value of ``lscpu``'s ``name:`` line (None where lscpu or the line is missing)."""
    try:
        listing = subprocess.run(["lscpu"], check=False, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in listing.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def cpu_clock_mhz(lscpu=lscpu_field, cpuinfo: Path = CPUINFO) -> tuple[float | None, str | None]:
    """The CPU's clock in MHz and where it came from: lscpu's "CPU max MHz" (the boost clock)
    where listed, else /proc/cpuinfo's "cpu MHz" (the current clock; all a VM often shows)."""
    for value, source in (
        (lscpu("CPU max MHz"), "lscpu CPU max MHz"),
        (cpuinfo_field("cpu MHz", cpuinfo), "/proc/cpuinfo cpu MHz"),
    ):
        try:
            mhz = float(value) if value else None
        except ValueError:
            mhz = None
        if mhz:
            return mhz, source
    return None, None
