"""Harness of ``compile-cudagraphs`` (CUDA only): ``compile`` with Inductor's CUDA graphs, what
``mode="reduce-overhead"`` turns on. At batch 1 a GPU waits on the CPU launching hundreds of
small kernels; a CUDA graph replays them all in one launch.

Graph trees recycle their output memory at the next replay, so each call starts a new step
(``cudagraph_mark_step_begin``) and returns a copy of the logits that outlives it. Inductor falls
back to plain launches when a graph cannot be captured (input mutation, CPU ops); the harness
refuses that case after the first call rather than report it under this name."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.harnesses.compile import COMPILE_OPTIONS, compiled_model

CUDAGRAPH_OPTIONS = {**COMPILE_OPTIONS, "triton.cudagraphs": True}


class CudagraphsNotCaptured(RuntimeError):
    pass


def _skips() -> int:
    from torch._dynamo.utils import counters

    return counters["inductor"]["cudagraph_skips"]


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    if device.type != "cuda":
        raise ValueError(f"compile-cudagraphs runs on CUDA only, not on {device}")
    compiled = compiled_model(artifact, model, device, CUDAGRAPH_OPTIONS)
    skips_before = _skips()
    checked = False

    def forward(batch: torch.Tensor) -> torch.Tensor:
        nonlocal checked
        torch.compiler.cudagraph_mark_step_begin()
        logits = compiled(batch).clone()
        if not checked:
            checked = True
            if _skips() > skips_before:
                raise CudagraphsNotCaptured(
                    f"Inductor skipped CUDA graphs for {model} (see the log's 'skipping cudagraphs' warning)"
                )
        return logits

    return forward
