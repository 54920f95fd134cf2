"""The arithmetic precisions a deployment computes in, declared once (torch-free): what each one
needs of a CPU to run natively, and whether a GPU runs it. The variants name their precision
(tvdeploy.registry.variants), so what a runtime runs in each precision on each device follows
from its variants (``Runtime.precisions_on``), and the peak probe, the plan's skips and the
efficiency columns read the same entries.

Native, on a CPU, means its flags name an instruction set that computes in the precision:
elsewhere the precision is emulated (bfloat16 widened to float32, int8 products through several
instructions) and its timing says nothing about a deployment made for it, so it is skipped with
the reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
FLOAT16 = "float16"
INT8 = "int8"


@dataclass(frozen=True)
class Precision:
    name: str
    description: str
    # /proc/cpuinfo flags of which one makes the precision native on a CPU; () where every CPU
    # computes in it (float32). None: no CPU deployment runs in it.
    native_cpu_flags: tuple[str, ...] | None
    # OpenVINO's INFERENCE_PRECISION_HINT for a deployment in this precision: its CPU plugin
    # compiles the float32 IR for the precision at load time, where a LibTorch or ONNX deployment
    # needs an artifact of its own.
    openvino_hint: str = "f32"
    # Why no CPU runs it (where native_cpu_flags is None).
    cpu_refusal: str = ""

    def cpu_skip_reason(self, flags: Iterable[str]) -> str | None:
        """Why a CPU with ``flags`` does not run this precision natively, or None where it does."""
        if self.native_cpu_flags is None:
            return f"{self.name} is no CPU deployment: {self.cpu_refusal}"
        if self.native_cpu_flags and not set(flags).intersection(self.native_cpu_flags):
            return f"{self.name} is not native on this CPU (none of {', '.join(self.native_cpu_flags)} in its flags)"
        return None


PRECISIONS: dict[str, Precision] = {
    p.name: p
    for p in (
        Precision(FLOAT32, "32-bit floating point: the reference every deployment is checked against", ()),
        # Dot products in AVX-512 BF16 (Zen 4, Cooper Lake) or AMX tiles (Sapphire Rapids).
        Precision(
            BFLOAT16, "bfloat16: float32's range, an 8-bit mantissa", ("avx512_bf16", "amx_bf16"), openvino_hint="bf16"
        ),
        # The CPU half-precision units (AVX-512 FP16, AMX-FP16) are rare and PyTorch's CPU float16
        # kernels are mostly emulated: half precision is a GPU deployment here.
        Precision(
            FLOAT16,
            "float16: half precision, a 10-bit mantissa",
            None,
            openvino_hint="f16",
            cpu_refusal="half precision is deployed on cuda only (CPU float16 kernels are mostly emulated)",
        ),
        # int8 dot products in one instruction: AVX-512 VNNI, AVX-VNNI, AMX tiles. Without them an
        # int8 product takes a multi-instruction path (VPMADDUBSW with saturation) that is no
        # ceiling of the hardware. An NNCF-quantized IR runs its quantized operations in int8
        # whatever the hint; the hint keeps the rest in float32, as the other int8 paths do.
        Precision(INT8, "8-bit integers, scaled per tensor or channel", ("avx512_vnni", "avx_vnni", "amx_int8")),
    )
}


def precision(name: str) -> Precision:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision '{name}' (known: {', '.join(PRECISIONS)})") from None


def skip_reason(name: str, device_type: str, cpu_flags: Iterable[str]) -> str | None:
    """Why ``name`` does not run natively on this device, or None where it does. A CUDA device that
    lacks one fails when it is used, which is recorded as an error there."""
    if device_type != "cpu":
        return None
    return precision(name).cpu_skip_reason(cpu_flags)


# Every CPU flag that decides whether some precision is native: what a result's CPU is described by.
PRECISION_CPU_FLAGS = tuple(dict.fromkeys(f for p in PRECISIONS.values() for f in p.native_cpu_flags or ()))
