"""Harness of ``compile``: the nn.Module compiled by torch.compile (Inductor, frozen weights).

Compilation happens on the first call, which the worker and the inference script time apart from
the latency (``first_call_s`` in their records); a new batch size compiles again. Freezing only
applies when grad is off during that first call: every caller runs under inference mode."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.catalog.models import build_model

# Inductor options of the compile runtime: frozen weights (conv+bn folded, weights prepacked) as
# for the AOTInductor packages, so the two differ in how they are run, not in what was compiled.
COMPILE_OPTIONS = {"freezing": True}


def compiled_model(artifact: str | Path, model: str, device: torch.device, options: dict = COMPILE_OPTIONS):
    """The model on ``device``, wrapped by torch.compile with ``options`` (compiled at first call)."""
    net = build_model(model, artifact).to(device).eval()
    return torch.compile(net, options=options, dynamic=False)


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    return compiled_model(artifact, model, device)
