"""Devices, load transforms and deployment variants, each declared once (torch-free).

A variant is one way of deploying an exported model, measured on its own; the C++ programs accept
exactly the load transforms named here (tests/cpp/test_cpp_cli.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tvdeploy.registry.precisions import BFLOAT16, FLOAT16, FLOAT32, INT8, PRECISIONS

# Where a run can execute; "auto" in the config resolves to one of these (tvdeploy.host.devices).
DEVICES = ("cpu", "cuda")
DEVICE_CHOICES = ("auto", *DEVICES)

# What a harness does to a module right after loading it. The C++ programs accept exactly these
# names for --transform (checked by tests/cpp/test_cpp_cli.py).
NO_TRANSFORM = "none"
OPTIMIZE_FOR_INFERENCE = "optimize_for_inference"
# TorchScript's oneDNN Graph (LLGA) fuser: a process-wide switch, effective once the profiling
# executor has profiled a shape; harnesses run those profiling calls before a new shape counts.
ONEDNN_FUSION = "onednn_fusion"
# Each input shape captured once as a CUDA graph and replayed (tvdeploy.build.cuda_graphs; C++
# src/lib/cuda_graph.cpp); applies to TorchScript and AOTInductor packages alike.
CUDA_GRAPH = "cuda_graph"
LOAD_TRANSFORMS = (NO_TRANSFORM, OPTIMIZE_FOR_INFERENCE, ONEDNN_FUSION, CUDA_GRAPH)

# PyTorch's quantized-operator engines (torch.backends.quantized.engine), as an eager-quantized
# model's weights name theirs. Every harness selects the model's engine before loading it (its
# packed weights are unpacked for that engine on load; LibTorch without one fails with NoQEngine,
# pytorch#81287): the C++ programs take exactly these for --quantized-engine.
QUANTIZED_ENGINES = ("fbgemm", "qnnpack", "x86", "onednn")


@dataclass(frozen=True)
class Variant:
    """One way of deploying the exported model, separately measured: a TorchScript file of its
    own (every variant but plain is derived from the plain export by its own rule), and for the
    variants that are only a load transform (cudagraphs) also the AOTInductor package as built."""

    name: str
    description: str
    devices: tuple[str, ...] = DEVICES
    # Applied after loading, identically in every harness.
    load_transform: str = NO_TRANSFORM
    # The parity config key for this variant compared against a different variant (e.g. half
    # precision against float32 eager); None: the device's float32 tolerance.
    cross_variant_rtol_key: str | None = None
    # Built from torch.jit.trace of the eager module where the trace reproduces it at another
    # batch size (a leaner graph: no shape checks left for the interpreter), else from the
    # scripted export.
    prefers_trace: bool = False
    # The precision it computes in (tvdeploy.registry.precisions): on the CPU it runs only where
    # that precision is native (elsewhere it would be emulated and its timing meaningless), and is
    # skipped otherwise, with why.
    precision: str = FLOAT32
    # Built from the runtime's float32 artifact by its own quantization tool, calibrated on the
    # run's inputs (tvdeploy.build.quantized): ONNX and OpenVINO IR, not TorchScript.
    calibrated: bool = False

    def supports(self, device: str) -> bool:
        return device in self.devices

    @property
    def native_cpu_flags(self) -> tuple[str, ...]:
        """The CPU flags of which one makes its precision native (none needed: ())."""
        return PRECISIONS[self.precision].native_cpu_flags or ()


PLAIN = "plain"
FP16 = "fp16"
BF16 = "bf16"
INT8_VARIANT = "int8"
CUDAGRAPHS = "cudagraphs"
# CPU flags of native bfloat16 arithmetic (dot products in AVX-512 BF16, tiles in AMX).
BF16_CPU_FLAGS = PRECISIONS[BFLOAT16].native_cpu_flags

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(PLAIN, "the model as built (eager) or as exported (torch.jit.script)"),
        Variant("frozen", "torch.jit.freeze: weights inlined as constants, conv+bn folded"),
        # optimize_for_inference output (MKLDNN-prepacked weights on CPU) cannot be saved and
        # reloaded, so the file is frozen and every harness optimises it at load time.
        Variant("optimized", "frozen + torch.jit.optimize_for_inference", load_transform=OPTIMIZE_FOR_INFERENCE),
        # Half precision on a CPU is emulated or unsupported for many ops: not a deployment there.
        Variant(
            FP16,
            "half precision, float32 in and out",
            devices=("cuda",),
            cross_variant_rtol_key="fp16_rtol",
            precision=FLOAT16,
        ),
        Variant("channels_last", "NHWC memory format, frozen"),
        # oneDNN Graph fuses conv/matmul chains with their element-wise ops; CPU float32 here.
        # Measured on random inputs: within 1e-6 of the logits' scale, so float32 tolerance.
        Variant(
            "fused",
            "traced (else scripted) and frozen, run with TorchScript's oneDNN Graph fuser",
            devices=("cpu",),
            load_transform=ONEDNN_FUSION,
            prefers_trace=True,
        ),
        # bfloat16 keeps float32's range with an 8-bit mantissa: its own parity tolerance.
        # Native on CPUs with AVX-512 BF16 (Zen 4, Cooper Lake) or AMX (Sapphire Rapids).
        # TorchScript converts and freezes a file of its own, op by op without a fuser (the
        # fallback where fused_bf16 fails); OpenVINO compiles its float32 IR for bfloat16 (the
        # precision's openvino_hint), as it does by default on such CPUs.
        Variant(
            BF16,
            "bfloat16 weights and activations, float32 in and out: TorchScript frozen in bfloat16, "
            "OpenVINO's IR compiled for bf16",
            cross_variant_rtol_key="bf16_rtol",
            precision=BFLOAT16,
        ),
        # bfloat16 through the oneDNN Graph fuser: on a CPU with AMX, 4-5x float32 where the plain
        # bf16 graph (ATen op by op, a conversion around each) can be slower than float32.
        Variant(
            "fused_bf16",
            "traced (else scripted), bfloat16 inside, float32 in and out, frozen, run with the oneDNN Graph fuser",
            devices=("cpu",),
            load_transform=ONEDNN_FUSION,
            prefers_trace=True,
            cross_variant_rtol_key="bf16_rtol",
            precision=BFLOAT16,
        ),
        # Post-training static quantization by each runtime's own tool (NNCF for OpenVINO IR,
        # ONNX Runtime's QDQ quantizer), calibrated on the run's first inputs. Its outputs are
        # judged by their agreement with float32 eager, under their own tolerance.
        Variant(
            INT8_VARIANT,
            "static int8: per-channel int8 weights, 8-bit activations, calibrated on the run's inputs",
            devices=("cpu",),
            cross_variant_rtol_key="int8_rtol",
            precision=INT8,
            calibrated=True,
        ),
        # At small batch a GPU waits on the CPU launching hundreds of small kernels; one graph
        # launch replays them all. Same kernels as without the graph: float32 tolerance.
        Variant(
            CUDAGRAPHS,
            "frozen, each input shape captured once as a CUDA graph and replayed",
            devices=("cuda",),
            load_transform=CUDA_GRAPH,
        ),
    )
}
# TorchScript variants are derived from the plain export by torch.jit; the calibrated ones are
# built by a peer runtime's quantization tool instead.
TORCHSCRIPT_VARIANTS = tuple(name for name, v in VARIANTS.items() if not v.calibrated)
# The variants built by quantizing a runtime's float32 artifact (rule quantize_artifact).
CALIBRATED_VARIANTS = tuple(name for name, v in VARIANTS.items() if v.calibrated)
# What an AOTInductor package runs as: as built in float32, half precision or int8 (a package
# each; int8 quantized by PT2E with torchao's X86InductorQuantizer, calibrated like the peers'
# int8), or the float32 package replayed as CUDA graphs.
AOTI_VARIANTS = (PLAIN, FP16, CUDAGRAPHS, INT8_VARIANT)


def built_variant(variant: str) -> str:
    """The variant of the built artifact a deployment loads: a variant that is only a load
    transform (cudagraphs) runs the plain build; the others (fp16) are built in their own."""
    return PLAIN if VARIANTS[variant].load_transform != NO_TRANSFORM else variant


# The AOTInductor packages built per model and device.
AOTI_BUILT_VARIANTS = tuple(dict.fromkeys(built_variant(v) for v in AOTI_VARIANTS))


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant '{name}' (known: {', '.join(VARIANTS)})") from None


def derived_variants() -> list[str]:
    """TorchScript variants made from the plain export by their own rule."""
    return [v for v in TORCHSCRIPT_VARIANTS if v != PLAIN]
