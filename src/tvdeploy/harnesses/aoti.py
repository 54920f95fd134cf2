"""Harness of ``aoti-python``: an AOTInductor package (.pt2) loaded with aoti_load_package.

The package was compiled for this run's device (``package_aoti``); its kernels follow the thread
count set at run time (built with ``cpp.dynamic_threads``), which every caller sets first
(``tvdeploy.harnesses.device.apply_threads``). The ``cudagraphs`` variant replays the package's forward as
CUDA graphs (tvdeploy.build.cuda_graphs), as the C++ programs do."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.build.cuda_graphs import CudaGraphReplay
from tvdeploy.build.records import artifact_file
from tvdeploy.registry import CUDA_GRAPH, NO_TRANSFORM, VARIANTS


class AotiModule:
    """Calls the package's runner like a module: the model's float32 inputs in, its outputs out."""

    def __init__(self, path: str | Path, device: torch.device, single_threaded: bool = False):
        from torch._inductor import aoti_load_package

        self.device = device
        # single_threaded: without the model container's synchronisation between runs, which
        # queries an event at each run and so fails inside a CUDA graph capture ("operation not
        # permitted when stream is capturing"); AOTInductor's own advice for CUDA graphs.
        index = device.index if device.index is not None else -1
        self.runner = aoti_load_package(str(path), run_single_threaded=single_threaded, device_index=index)

    def __call__(self, *inputs: torch.Tensor):
        # The package expects the layout it was exported with: contiguous tensors.
        return self.runner(*(x.contiguous() for x in inputs))


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    transform = VARIANTS[variant].load_transform
    module = AotiModule(artifact_file(artifact), device, single_threaded=transform == CUDA_GRAPH)
    if transform == CUDA_GRAPH:
        return CudaGraphReplay(module, device)
    if transform != NO_TRANSFORM:
        raise ValueError(f"aoti-python cannot apply the load transform '{transform}' of variant '{variant}'")
    return module
