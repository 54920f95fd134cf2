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
    """Calls the session like a module: the model's float32 inputs in (by position), its output
    tensor out, or a tuple where the model has several. On CUDA inputs and outputs stay on the GPU
    (I/O binding), so no host copy is timed."""

    def __init__(self, path: str | Path, device: torch.device, threads: int):
        import onnxruntime as ort

        self.device = device
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=providers(device))
        if device.type == "cuda" and self.session.get_providers()[0] != CUDA_PROVIDER:
            raise DeviceError(f"onnxruntime fell back to {self.session.get_providers()} for {path}")
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, *inputs: torch.Tensor):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"the model takes {len(self.input_names)} inputs, got {len(inputs)}")
        inputs = tuple(x.contiguous() for x in inputs)
        if self.device.type != "cuda":
            feed = {name: x.numpy() for name, x in zip(self.input_names, inputs, strict=True)}
            outputs = tuple(torch.from_numpy(o) for o in self.session.run(self.output_names, feed))
        else:
            binding = self.session.io_binding()
            for name, x in zip(self.input_names, inputs, strict=True):
                binding.bind_input(name, "cuda", self.device.index or 0, "float32", list(x.shape), x.data_ptr())
            for name in self.output_names:
                binding.bind_output(name, "cuda", self.device.index or 0)
            self.session.run_with_iobinding(binding)
            outputs = tuple(torch.from_dlpack(o._ortvalue.to_dlpack()) for o in binding.get_outputs())
        return outputs[0] if len(outputs) == 1 else outputs


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain") -> OnnxRuntimeModule:
    return OnnxRuntimeModule(artifact_file(artifact), device, torch.get_num_threads())
