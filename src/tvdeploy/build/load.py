"""Loading a TorchScript file as every harness runs it: the variant's load transform applied after
torch.jit.load (optimize_for_inference, the oneDNN Graph fuser, CUDA-graph replay). The build's own
verification reloads what it saved through this too, so a saved variant is checked as it will run."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch

from tvdeploy.build.cuda_graphs import CudaGraphReplay
from tvdeploy.registry import CUDA_GRAPH, NO_TRANSFORM, ONEDNN_FUSION, OPTIMIZE_FOR_INFERENCE

CPU = torch.device("cpu")


CPU = torch.device("cpu")


@contextlib.contextmanager
def quiet_torchscript_deprecation():
    """Silence the one FutureWarning torch emits for every torch.jit call (TorchScript is
    deprecated upstream); every other warning still reaches the log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r"`torch\.jit\.\w+` is deprecated")
        yield


class FusedModule:
    """A frozen TorchScript module run with the oneDNN Graph fuser. The profiling executor fuses a
    graph for an input shape only after profiling it (``torch._C._jit_get_num_profiled_runs()``
    calls), so a new shape first gets those calls: every output returned, warm-up and timed calls
    alike, comes from the fused graph.

    The fuser is a process-wide switch, on only during this module's calls: on a module that is
    not frozen it computes wrong logits (a conv + linear toy model was off by 0.06 at a scale of
    0.5 here, torch 2.14.1), so it must not reach other modules of the same process."""

    def __init__(self, module: torch.jit.ScriptModule):
        self.module = module
        self.profiling_calls = torch._C._jit_get_num_profiled_runs()
        self._shapes: set[tuple[tuple[int, ...], ...]] = set()

    def __call__(self, *inputs: torch.Tensor):
        was_enabled = torch.jit.onednn_fusion_enabled()
        torch.jit.enable_onednn_fusion(True)
        try:
            shapes = tuple(tuple(x.shape) for x in inputs)
            if shapes not in self._shapes:
                for _ in range(self.profiling_calls):
                    self.module(*inputs)
                self._shapes.add(shapes)
            return self.module(*inputs)
        finally:
            torch.jit.enable_onednn_fusion(was_enabled)

    def fusion_groups(self) -> int:
        """Fusion groups in the graph the executor last ran (0: the fuser did not run)."""
        graph = torch.jit.last_executed_optimized_graph()
        return len(graph.findAllNodes("prim::oneDNNFusionGroup", True)) if graph is not None else 0


def apply_load_transform(module: torch.jit.ScriptModule, transform: str, device: torch.device = CPU):
    """``module`` (loaded onto ``device``) as its variant runs it."""
    if transform == NO_TRANSFORM:
        return module
    if transform == OPTIMIZE_FOR_INFERENCE:
        with quiet_torchscript_deprecation():
            return torch.jit.optimize_for_inference(module)
    if transform == ONEDNN_FUSION:
        return FusedModule(module)
    if transform == CUDA_GRAPH:
        return CudaGraphReplay(module, device)
    raise ValueError(f"unknown load transform '{transform}'")


def load_torchscript(path: str | Path, device: torch.device, transform: str = NO_TRANSFORM):
    with quiet_torchscript_deprecation():
        module = torch.jit.load(str(path), map_location=device).eval()
    return apply_load_transform(module, transform, device)
