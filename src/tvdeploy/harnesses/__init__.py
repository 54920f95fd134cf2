"""One module per runtime harness, named by the registry (``Runtime.harness``).

Python harnesses expose ``load(artifact, model, device, variant)`` returning the callable that
maps a float32 NCHW batch to logits; the inference and benchmark scripts time and query that
callable the same way for every Python runtime. The C++ harness (``tvdeploy.harnesses.cpp``)
exposes ``infer(...)`` and ``bench(...)``, which run the C++ programs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tvdeploy.registry import PYTHON, runtime


def harness(runtime_name: str) -> ModuleType:
    return importlib.import_module(runtime(runtime_name).harness)


def input_files(dat: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """A call's input files as a list: one path (a one-input task) or one per model input in
    the task's order (optical flow's image1, image2), each given to a worker as its own --input."""
    paths = [dat] if isinstance(dat, (str, os.PathLike)) else list(dat)
    if not paths:
        raise ValueError("a model call needs at least one input file")
    return [str(p) for p in paths]


def worker_command(
    runtime_name: str,
    variant: str,
    model: str,
    artifact: str | Path,
    dat: str | Path | Sequence[str | Path],
    device: str,
    batch_size: int,
    threads: int,
    interop_threads: int,
    programs: dict[str, str],
    task_name: str,
    quantized_engine: str = "",
) -> list[str]:
    """The command that starts a long-lived benchmark worker for one deployment on ``dat`` (one
    preprocessed input, or one per model input in order: input_files; the protocol is in
    tvdeploy.measure.worker): ``python -m tvdeploy.measure.worker`` for Python runtimes, the C++ harness's
    ``bench --mode serve`` for C++ ones (``programs`` maps program names to built binaries), told
    the model's task and, for an eager-quantized model, its engine (the sheet's
    ``quantized_engine``; the Python worker needs neither: it calls the module, and its harness
    selects the engine from the model's name)."""
    if runtime(runtime_name).language == PYTHON:
        return [
            sys.executable, "-m", "tvdeploy.measure.worker",
            "--runtime", runtime_name,
            "--variant", variant,
            "--model", model,
            "--artifact", str(artifact),
            *(arg for path in input_files(dat) for arg in ("--input", path)),
            "--device", device,
            "--batch-size", str(batch_size),
            "--threads", str(threads),
            "--interop-threads", str(interop_threads),
        ]  # fmt: skip
    return harness(runtime_name).worker_command(
        programs["bench"], artifact, dat, device, variant, batch_size, threads, interop_threads, task_name,
        quantized_engine,
    )  # fmt: skip
