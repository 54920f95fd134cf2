"""Harness of ``openvino-python``: the OpenVINO IR compiled for the CPU plugin.

Settings that keep the comparison fair, each checked after compiling: float32 inference (on a CPU
with avx512_bf16 OpenVINO would otherwise run bf16), the job's thread count (torch's, set first by
``tvdeploy.harnesses.device.apply_threads``), the latency hint with one stream, and no thread pinning (the
workers of a comparison share the cores one at a time; pinned threads would fight the others').
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tvdeploy.build.records import artifact_file
from tvdeploy.harnesses.device import DeviceError

OPENVINO_DEVICE = "CPU"


def compile_config(threads: int) -> dict:
    return {
        "INFERENCE_PRECISION_HINT": "f32",
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "ENABLE_CPU_PINNING": False,
    }


class OpenVinoModule:
    """Calls the compiled model like a module: the model's float32 inputs in (by position), its
    output tensor out, or a tuple where the model has several."""

    def __init__(self, path: str | Path, device: torch.device, threads: int):
        import openvino as ov

        if device.type != "cpu":
            raise DeviceError(f"openvino-python runs on the CPU only, not on {device.type}")
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), OPENVINO_DEVICE, compile_config(threads))
        self.settings = {
            key: str(self.compiled.get_property(key))
            for key in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "ENABLE_CPU_PINNING")
        }
        if self.settings["INFERENCE_PRECISION_HINT"] not in ("f32", "<Type: 'float32'>"):
            raise RuntimeError(f"OpenVINO compiled {path} for {self.settings['INFERENCE_PRECISION_HINT']}, not f32")
        self.request = self.compiled.create_infer_request()
        self.outputs = self.compiled.outputs

    def __call__(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.compiled.inputs):
            raise ValueError(f"the model takes {len(self.compiled.inputs)} inputs, got {len(inputs)}")
        # share_inputs: OpenVINO reads the tensors' memory in place instead of copying it.
        result = self.request.infer({i: x.contiguous().numpy() for i, x in enumerate(inputs)}, share_inputs=True)
        outputs = tuple(torch.from_numpy(np.array(result[output])) for output in self.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain") -> OpenVinoModule:
    return OpenVinoModule(artifact_file(artifact), device, torch.get_num_threads())
