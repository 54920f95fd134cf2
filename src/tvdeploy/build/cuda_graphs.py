"""CUDA graph replay of a deployed model (the ``cudagraphs`` variant; the C++ programs do the
same in ``cpp/src/lib/cuda_graph.cpp``).

At batch 1 a GPU mostly waits for the CPU to launch hundreds of small kernels. A CUDA graph
records one forward's kernels once per input shape and launches them all in one call. The
recipe is PyTorch's (``torch.cuda.graphs``): a few calls on a side stream first, so lazy work
(the TorchScript profiling executor's optimisation, cuDNN algorithm choice, AOTInductor's
constant folding) happens outside the capture; then one capture with a static input tensor. Each
call copies its batch into that tensor, replays, and returns a copy of the static output, which
the next replay overwrites."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# Calls before a capture: the profiling executor profiles (1 call by default), then optimises;
# the third call runs the optimised graph once more, so nothing is left to compile in the capture.
WARMUP_CALLS_BEFORE_CAPTURE = 3


def _copy(output):
    """A copy of the forward's output that the next replay does not overwrite."""
    if isinstance(output, torch.Tensor):
        return output.clone()
    if isinstance(output, (list, tuple)):
        return type(output)(_copy(o) for o in output)
    raise TypeError(f"cannot replay a model returning {type(output).__name__} as a CUDA graph")


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    static_inputs: tuple[torch.Tensor, ...]
    static_output: object


class CudaGraphReplay:
    """``forward`` captured once per tuple of input shapes and dtypes as a CUDA graph, then replayed."""

    def __init__(self, forward: Callable, device: torch.device):
        if device.type != "cuda":
            raise ValueError(f"CUDA graph replay needs a CUDA device, not {device}")
        self.forward = forward
        self.device = device
        self._captured: dict[tuple, _Captured] = {}

    @property
    def captures(self) -> int:
        """Input shapes captured so far (each once)."""
        return len(self._captured)

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> _Captured:
        static_inputs = tuple(x.clone() for x in inputs)
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_CALLS_BEFORE_CAPTURE):
                self.forward(*static_inputs)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = self.forward(*static_inputs)
        return _Captured(graph, static_inputs, static_output)

    def __call__(self, *inputs: torch.Tensor):
        for x in inputs:
            if x.device.type != "cuda":
                raise ValueError(f"CUDA graph replay got an input on {x.device}; move it to {self.device} first")
        key = tuple((tuple(x.shape), x.dtype) for x in inputs)
        captured = self._captured.get(key)
        if captured is None:
            captured = self._captured[key] = self._capture(inputs)
        for static, x in zip(captured.static_inputs, inputs, strict=True):
            static.copy_(x)
        captured.graph.replay()
        return _copy(captured.static_output)
