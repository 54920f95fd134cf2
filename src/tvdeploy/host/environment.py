"""What a result depends on besides the code: versions, hardware, workflow commit, config."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import socket
import subprocess
from pathlib import Path

from tvdeploy.host.devices import available_cores, cpuinfo_field, read_cpu_flags
from tvdeploy.registry.precisions import PRECISIONS, skip_reason


def _run(command: list[str], cwd: str | Path | None = None) -> str | None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def cpu_info() -> dict:
    """The CPU a result was measured on: its model, cores, instruction-set flags (all of them: a
    precision or kernel choice may hinge on any) and which precisions it runs natively, each
    with why not where it does not (tvdeploy.registry.precisions)."""
    model = cpuinfo_field("model name")
    flags = read_cpu_flags()
    return {
        "model": model or platform.processor() or platform.machine(),
        "cores": available_cores(),
        "machine": platform.machine(),
        "flags": sorted(flags),
        "precisions": {name: skip_reason(name, "cpu", flags) or "native" for name in PRECISIONS},
    }


def gpu_info() -> dict:
    import torch

    info = {"name": None, "driver": None, "count": 0}
    if torch.cuda.is_available():
        info["count"] = torch.cuda.device_count()
        info["name"] = torch.cuda.get_device_name(0)
    if shutil.which("nvidia-smi"):
        out = _run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
        if out:
            name, _, driver = out.splitlines()[0].partition(",")
            info["name"] = info["name"] or name.strip()
            info["driver"] = driver.strip()
    return info


def git_info(repo: str | Path) -> dict:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=repo)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def config_sha256(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def machine_fingerprint() -> dict:
    """What a measurement depends on besides the code; every benchmark result records it."""
    from tvdeploy.host.environment import versions

    fingerprint = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "versions": versions(),
        "cpu": cpu_info(),
        "gpu": gpu_info(),
    }
    fingerprint["id"] = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    return fingerprint


def capture(config: dict, repo: str | Path, result_fingerprints: list[dict]) -> dict:
    """The run's environment.json: this machine, the workflow commit and config, and which
    machine fingerprints the aggregated results were measured on (more than one is a warning)."""
    ids: dict[str, int] = {}
    for fingerprint in result_fingerprints:
        ids[fingerprint["id"]] = ids.get(fingerprint["id"], 0) + 1
    return {
        **machine_fingerprint(),
        "git": git_info(repo),
        "config_sha256": config_sha256(config),
        "config": config,
        "result_environments": ids,
    }


def versions() -> dict:
    import torch
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "python": platform.python_version(),
    }
