"""One module per runtime harness, named by the registry (``Runtime.harness``).

Python harnesses expose ``load(artifact, model, device, variant)`` returning the callable that
maps a float32 NCHW batch to logits; the inference and benchmark scripts time and query that
callable the same way for every Python runtime. The C++ harness (``tvdeploy.harnesses.cpp``)
exposes ``infer(...)`` and ``bench(...)``, which run the C++ programs.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tvdeploy.registry import runtime


def harness(runtime_name: str) -> ModuleType:
    return importlib.import_module(runtime(runtime_name).harness)
