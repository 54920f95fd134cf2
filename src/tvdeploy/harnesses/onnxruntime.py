"""Harness of ``onnxruntime``: the ONNX export run by an ONNX Runtime session.

The session gets the job's thread count (torch's, which every caller sets first with
``tvdeploy.harnesses.device.apply_threads``; ONNX Runtime ignores OMP_NUM_THREADS and would otherwise take
every physical core), full graph optimisation, and its thread pool's spin-wait switched off: in an
interleaved comparison an idle worker that spins steals CPU from the one being timed. What that
costs ONNX Runtime itself is measured apart (docs/results.md).
"""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.build.records import artifact_file
from tvdeploy.harnesses.device import DeviceError

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# "0": an idle pool thread blocks instead of spinning (ONNX Runtime's default "1" spins ~ms).
ALLOW_SPINNING = "0"


def session_options(threads: int, allow_spinning: str = ALLOW_SPINNING):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", allow_spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", allow_spinning)
    return options


def providers(device: torch.device) -> list:
    import onnxruntime as ort

    if device.type != "cuda":
        return [CPU_PROVIDER]
    if CUDA_PROVIDER not in ort.get_available_providers():
        raise DeviceError(
            f"onnxruntime {ort.__version__} has no CUDA execution provider (it has "
            f"{', '.join(ort.get_available_providers())}); on a GPU machine replace the CPU package "
            f"(both install the module onnxruntime): pip uninstall -y onnxruntime && "
            f"pip install onnxruntime-gpu=={ort.__version__}, or leave onnxruntime out of a cuda run"
        )
    # TF32 off: the same float32 arithmetic parity expects of the other CUDA runtimes.
    return [(CUDA_PROVIDER, {"device_id": device.index or 0, "use_tf32": 0}), CPU_PROVIDER]


class OnnxRuntimeModule:
    """Calls the session like a module: float32 NCHW tensor in, logits tensor out. On CUDA the
    input and output stay on the GPU (I/O binding), so no host copy is timed."""

    def __init__(self, path: str | Path, device: torch.device, threads: int):
        import onnxruntime as ort

        self.device = device
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=providers(device))
        if device.type == "cuda" and self.session.get_providers()[0] != CUDA_PROVIDER:
            raise DeviceError(f"onnxruntime fell back to {self.session.get_providers()} for {path}")
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.contiguous()
        if self.device.type != "cuda":
            return torch.from_numpy(self.session.run([self.output_name], {self.input_name: batch.numpy()})[0])
        binding = self.session.io_binding()
        binding.bind_input(
            self.input_name, "cuda", self.device.index or 0, "float32", list(batch.shape), batch.data_ptr()
        )
        binding.bind_output(self.output_name, "cuda", self.device.index or 0)
        self.session.run_with_iobinding(binding)
        return torch.from_dlpack(binding.get_outputs()[0]._ortvalue.to_dlpack())


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain") -> OnnxRuntimeModule:
    return OnnxRuntimeModule(artifact_file(artifact), device, torch.get_num_threads())
