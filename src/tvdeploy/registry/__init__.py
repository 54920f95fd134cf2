"""Every runtime, variant and device of tvdeploy, each declared once.

Everything else follows from these tables: the config schema's allowed values and the C++
programs' accepted choices are checked against them by tests (``tests/test_registry.py``,
``tests/test_cpp_cli.py``); the rules' wildcard constraints, the target lists, the parity pairs and
the scripts' dispatch are computed from them (``tvdeploy.plan``, ``tvdeploy.harnesses``).

Adding a runtime is one ``Runtime`` entry here plus its harness module. Torch-free: the
Snakefile imports this while parsing.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where a run can execute; "auto" in the config resolves to one of these (tvdeploy.host.devices).
DEVICES = ("cpu", "cuda")
DEVICE_CHOICES = ("auto", *DEVICES)

# What a harness does to a module right after loading it. The C++ programs accept exactly these
# names for --transform (checked by tests/test_cpp_cli.py).
NO_TRANSFORM = "none"
OPTIMIZE_FOR_INFERENCE = "optimize_for_inference"
# TorchScript's oneDNN Graph (LLGA) fuser: a process-wide switch, effective once the profiling
# executor has profiled a shape; harnesses run those profiling calls before a new shape counts.
ONEDNN_FUSION = "onednn_fusion"
# Each input shape captured once as a CUDA graph and replayed (tvdeploy.build.cuda_graphs; C++
# src/lib/cuda_graph.cpp); applies to TorchScript and AOTInductor packages alike.
CUDA_GRAPH = "cuda_graph"
LOAD_TRANSFORMS = (NO_TRANSFORM, OPTIMIZE_FOR_INFERENCE, ONEDNN_FUSION, CUDA_GRAPH)

# The languages harnesses are written in; each has its own infer and bench rules.
PYTHON = "python"
CPP = "cpp"

# Artifacts a runtime consumes: the weights file (rebuilt into the nn.Module) or an export.
WEIGHTS = "weights"
TORCHSCRIPT = "torchscript"
# Built from the nn.Module into a folder with a build record, failed builds included
# (tvdeploy.build.exporters); one rule each (workflow/rules/export.smk).
ONNX = "onnx"
OPENVINO = "openvino"
AOTI = "aoti"
# Each built artifact kind and the rule that builds it.
BUILT_ARTIFACTS = {ONNX: "export_onnx", OPENVINO: "convert_openvino", AOTI: "package_aoti"}
# Compiled for one device (AOTInductor generates CPU or CUDA code); the others load anywhere.
DEVICE_ARTIFACTS = (AOTI,)


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
    # On the CPU, run only where the CPU has one of these /proc/cpuinfo flags (native support;
    # elsewhere it would be emulated and its timing meaningless): skipped otherwise, with why.
    native_cpu_flags: tuple[str, ...] = ()

    def supports(self, device: str) -> bool:
        return device in self.devices


PLAIN = "plain"
FP16 = "fp16"
CUDAGRAPHS = "cudagraphs"
# CPU flags of native bfloat16 arithmetic (dot products in AVX-512 BF16, tiles in AMX).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# The baseline every deployment is compared against.
EAGER = "eager"

VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(PLAIN, "the model as built (eager) or as exported (torch.jit.script)"),
        Variant("frozen", "torch.jit.freeze: weights inlined as constants, conv+bn folded"),
        # optimize_for_inference output (MKLDNN-prepacked weights on CPU) cannot be saved and
        # reloaded, so the file is frozen and every harness optimises it at load time.
        Variant("optimized", "frozen + torch.jit.optimize_for_inference", load_transform=OPTIMIZE_FOR_INFERENCE),
        # Half precision on a CPU is emulated or unsupported for many ops: not a deployment there.
        Variant(FP16, "half precision, float32 in and out", devices=("cuda",), cross_variant_rtol_key="fp16_rtol"),
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
        Variant(
            "bf16",
            "bfloat16 weights and activations, float32 in and out, frozen",
            cross_variant_rtol_key="bf16_rtol",
            native_cpu_flags=BF16_CPU_FLAGS,
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
TORCHSCRIPT_VARIANTS = tuple(VARIANTS)
# What an AOTInductor package runs as: as built in float32 or half precision (a package each), or
# the float32 package replayed as CUDA graphs.
AOTI_VARIANTS = (PLAIN, FP16, CUDAGRAPHS)


def built_variant(variant: str) -> str:
    """The variant of the built artifact a deployment loads: a variant that is only a load
    transform (cudagraphs) runs the plain build; the others (fp16) are built in their own."""
    return PLAIN if VARIANTS[variant].load_transform != NO_TRANSFORM else variant


# The AOTInductor packages built per model and device.
AOTI_BUILT_VARIANTS = tuple(dict.fromkeys(built_variant(v) for v in AOTI_VARIANTS))


@dataclass(frozen=True)
class Runtime:
    """A way of running a deployed model: what it loads, in which language, on what."""

    name: str
    description: str
    language: str
    artifact: str
    # The module implementing it (see tvdeploy.harnesses).
    harness: str
    variants: tuple[str, ...]
    devices: tuple[str, ...] = DEVICES
    # The runtime whose logits this one must reproduce (same variant where it has it, else plain).
    reference: str | None = None

    def variants_on(self, device: str, selected) -> list[str]:
        """The variants this runtime runs on ``device``: those of ``selected`` it supports, in
        registry order. A runtime whose artifact is not TorchScript always runs its artifact as
        built (plain): eager is the reference the others are checked and compared against, and
        an AOTInductor package or ONNX file has no other export to choose instead."""
        if device not in self.devices:
            return []
        return [
            v
            for v in self.variants
            if (v in selected or (v == PLAIN and self.artifact != TORCHSCRIPT)) and VARIANTS[v].supports(device)
        ]

    def names_variant(self, variant_name: str) -> bool:
        """Whether a deployment's name includes its variant: always for TorchScript (plain is one
        export among several), for the others only beyond the artifact as built."""
        return self.artifact == TORCHSCRIPT or variant_name != PLAIN


RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        Runtime(
            EAGER,
            "the torchvision nn.Module in PyTorch",
            language=PYTHON,
            artifact=WEIGHTS,
            harness="tvdeploy.harnesses.eager",
            variants=(PLAIN,),
        ),
        Runtime(
            "ts-python",
            "TorchScript loaded with torch.jit.load in Python",
            language=PYTHON,
            artifact=TORCHSCRIPT,
            harness="tvdeploy.harnesses.torchscript",
            variants=TORCHSCRIPT_VARIANTS,
            reference=EAGER,
        ),
        Runtime(
            "ts-cpp",
            "TorchScript loaded with torch::jit::load by the C++ infer and bench programs",
            language=CPP,
            artifact=TORCHSCRIPT,
            harness="tvdeploy.harnesses.cpp",
            variants=TORCHSCRIPT_VARIANTS,
            reference="ts-python",
        ),
        Runtime(
            "aoti-python",
            "torch.export + AOTInductor package (.pt2, frozen weights) loaded with aoti_load_package in Python",
            language=PYTHON,
            artifact=AOTI,
            harness="tvdeploy.harnesses.aoti",
            variants=AOTI_VARIANTS,
            reference=EAGER,
        ),
        Runtime(
            "aoti-cpp",
            "the same AOTInductor package loaded by the C++ infer and bench programs (AOTIModelPackageLoader)",
            language=CPP,
            artifact=AOTI,
            harness="tvdeploy.harnesses.cpp",
            variants=AOTI_VARIANTS,
            reference="aoti-python",
        ),
        Runtime(
            "compile",
            "torch.compile (inductor, frozen weights) of the nn.Module in Python; first call compiles",
            language=PYTHON,
            artifact=WEIGHTS,
            harness="tvdeploy.harnesses.compile",
            variants=(PLAIN,),
            reference=EAGER,
        ),
        Runtime(
            "compile-cudagraphs",
            "torch.compile as compile, replayed as CUDA graphs (Inductor's reduce-overhead mode); CUDA only",
            language=PYTHON,
            artifact=WEIGHTS,
            harness="tvdeploy.harnesses.compile_cudagraphs",
            variants=(PLAIN,),
            devices=("cuda",),
            reference=EAGER,
        ),
        Runtime(
            "onnxruntime",
            "ONNX (torch.onnx dynamo exporter) run by an ONNX Runtime session in Python",
            language=PYTHON,
            artifact=ONNX,
            harness="tvdeploy.harnesses.onnxruntime",
            variants=(PLAIN,),
            reference=EAGER,
        ),
        Runtime(
            "openvino-python",
            "OpenVINO IR compiled by the OpenVINO CPU plugin in Python (float32)",
            language=PYTHON,
            artifact=OPENVINO,
            harness="tvdeploy.harnesses.openvino",
            variants=(PLAIN,),
            devices=("cpu",),
            reference=EAGER,
        ),
        Runtime(
            "openvino-cpp",
            "the same OpenVINO IR compiled by the OpenVINO CPU plugin in the C++ infer and bench programs",
            language=CPP,
            artifact=OPENVINO,
            harness="tvdeploy.harnesses.cpp",
            variants=(PLAIN,),
            devices=("cpu",),
            reference="openvino-python",
        ),
    )
}


# The peer every deployment is also compared against: the fastest widely used CPU runtime for
# these models, so a deployment's ratio to it says how far from the practical state of the art it is.
PEER_REFERENCE = "onnxruntime"


def runtime(name: str) -> Runtime:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise ValueError(f"unknown runtime '{name}' (known: {', '.join(RUNTIMES)})") from None


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant '{name}' (known: {', '.join(VARIANTS)})") from None


def runtimes_in(language: str) -> list[str]:
    return [name for name, r in RUNTIMES.items() if r.language == language]


def derived_variants() -> list[str]:
    """TorchScript variants made from the plain export by their own rule."""
    return [v for v in TORCHSCRIPT_VARIANTS if v != PLAIN]


def cross_language_pairs() -> list[tuple[str, str]]:
    """(candidate, reference) runtimes that load the same artifact in different languages, e.g.
    (ts-cpp, ts-python): their ratio isolates the harness language."""
    return [
        (name, r.reference)
        for name, r in RUNTIMES.items()
        if r.reference and RUNTIMES[r.reference].artifact == r.artifact and RUNTIMES[r.reference].language != r.language
    ]


def column_label(runtime_name: str, variant_name: str) -> str:
    """How tables name a deployment: the runtime alone where it runs its artifact as built."""
    if not RUNTIMES[runtime_name].names_variant(variant_name):
        return runtime_name
    return f"{runtime_name} ({variant_name})"


def column_order(labels) -> list[str]:
    """Deployment labels (column_label's) in registry order: by runtime, then by variant."""
    runtimes, variants = list(RUNTIMES), list(VARIANTS)

    def key(label: str) -> tuple[int, int]:
        runtime_name, _, rest = label.partition(" (")
        return runtimes.index(runtime_name), variants.index(rest.rstrip(")") or PLAIN)

    return sorted(labels, key=key)
