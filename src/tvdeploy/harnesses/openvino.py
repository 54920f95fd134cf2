"""Harness of ``openvino-python``: the OpenVINO IR compiled for the CPU plugin.

Settings that keep the comparison fair, each checked after compiling: the inference precision of
the deployment's variant (float32 unless the variant says otherwise: on a CPU with avx512_bf16
OpenVINO would pick bf16 for a float32 deployment; the bf16 variant asks for it), the job's
thread count (torch's, set first by ``tvdeploy.harnesses.device.apply_threads``), the latency
hint with one stream, and no thread pinning (the workers of a comparison share the cores one at
a time; pinned threads would fight the others').
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tvdeploy.build.exporters import OPENVINO_FILE
from tvdeploy.build.records import artifact_file
from tvdeploy.harnesses.device import DeviceError
from tvdeploy.registry import PLAIN, VARIANTS
from tvdeploy.registry.precisions import PRECISIONS

OPENVINO_DEVICE = "CPU"


def is_openvino_ir(path: str | Path) -> bool:
    """Whether ``path`` is an IR as the builds write it (its suffix: the C++ programs tell the
    formats apart the same way)."""
    return Path(path).suffix == Path(OPENVINO_FILE).suffix


def inference_precision(variant: str) -> str:
    """The INFERENCE_PRECISION_HINT a variant is compiled with (its precision's openvino_hint)."""
    return PRECISIONS[VARIANTS[variant].precision].openvino_hint


def compile_config(threads: int, precision_hint: str = "f32") -> dict:
    return {
        "INFERENCE_PRECISION_HINT": precision_hint,
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "ENABLE_CPU_PINNING": False,
    }


class OpenVinoModule:
    """Calls the compiled model like a module: the model's float32 inputs in (by position), its
    output tensor out, or a tuple where the model has several."""

    def __init__(self, path: str | Path, device: torch.device, threads: int, precision_hint: str = "f32"):
        import openvino as ov

        if device.type != "cpu":
            raise DeviceError(f"openvino-python runs on the CPU only, not on {device.type}")
        core = ov.Core()
        self.compiled = core.compile_model(
            core.read_model(str(path)), OPENVINO_DEVICE, compile_config(threads, precision_hint)
        )
        self.settings = {
            key: str(self.compiled.get_property(key))
            for key in ("INFERENCE_PRECISION_HINT", "INFERENCE_NUM_THREADS", "NUM_STREAMS", "ENABLE_CPU_PINNING")
        }
        # Read back as an element type: the plugin falls back to f32 where the CPU lacks the
        # precision, which would pass a float32 timing off as a bf16 one.
        compiled_for = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        if compiled_for != precision_hint:
            raise RuntimeError(
                f"OpenVINO compiled {path} for {compiled_for}, not {precision_hint}"
                + ("" if precision_hint == "f32" else " (the CPU plugin falls back where the CPU lacks the precision)")
            )
        self.request = self.compiled.create_infer_request()
        self.outputs = self.compiled.outputs

    def __call__(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.compiled.inputs):
            raise ValueError(f"the model takes {len(self.compiled.inputs)} inputs, got {len(inputs)}")
        # share_inputs: OpenVINO reads the tensors' memory in place instead of copying it.
        result = self.request.infer({i: x.contiguous().numpy() for i, x in enumerate(inputs)}, share_inputs=True)
        outputs = tuple(torch.from_numpy(np.array(result[output])) for output in self.outputs)
        return outputs[0] if len(outputs) == 1 else outputs


def load(artifact: str | Path, model: str, device: torch.device, variant: str = PLAIN) -> OpenVinoModule:
    return OpenVinoModule(artifact_file(artifact), device, torch.get_num_threads(), inference_precision(variant))
