"""Every runtime tvdeploy runs a deployment with, declared once (torch-free): what it loads, in
which language, on which devices, and the runtime whose outputs it must reproduce.

Adding a runtime is one ``Runtime`` entry here plus its harness module (tvdeploy.harnesses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tvdeploy.registry.precisions import BFLOAT16
from tvdeploy.registry.variants import (
    AOTI_VARIANTS,
    BF16,
    DEVICES,
    INT8_VARIANT,
    PLAIN,
    TORCHSCRIPT_VARIANTS,
    VARIANTS,
)

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
# The baseline every deployment is compared against.
EAGER = "eager"

BUILT_ARTIFACTS = {ONNX: "export_onnx", OPENVINO: "convert_openvino", AOTI: "package_aoti"}
# The built artifacts a calibrated variant (int8) is made from by quantizing the float32 one
# (rule quantize_artifact), and the tool each uses (tvdeploy.build.quantized).
QUANTIZE_RULE = "quantize_artifact"
QUANTIZED_ARTIFACTS = {ONNX: "onnxruntime.quantization (static QDQ)", OPENVINO: "NNCF post-training quantization"}
# The OpenVINO IR runs as converted (float32), compiled for bfloat16 by the CPU plugin's precision
# hint (no artifact of its own), or as NNCF quantized it (int8).
OPENVINO_VARIANTS = (PLAIN, BF16, INT8_VARIANT)
# Compiled for one device (AOTInductor generates CPU or CUDA code); the others load anywhere.
DEVICE_ARTIFACTS = (AOTI,)


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
    # Precisions it has no kernels for, with why: a selected variant in one of them is reported
    # as not run by this runtime (tvdeploy.plan), where another runtime runs it.
    unsupported_precisions: dict[str, str] = field(default_factory=dict)

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

    def precisions_on(self, device: str) -> list[str]:
        """The precisions its variants compute in on ``device``, in registry order."""
        if device not in self.devices:
            return []
        return list(dict.fromkeys(VARIANTS[v].precision for v in self.variants if VARIANTS[v].supports(device)))

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
            variants=(PLAIN, INT8_VARIANT),
            reference=EAGER,
            # Checked by tests/registry/test_runtime_precisions.py on one-operator graphs.
            unsupported_precisions={
                BFLOAT16: "ONNX Runtime's CPU execution provider has no bfloat16 Conv or MatMul kernel "
                "(such a graph fails to load: NOT_IMPLEMENTED)",
            },
        ),
        Runtime(
            "openvino-python",
            "OpenVINO IR compiled by the OpenVINO CPU plugin in Python "
            "(float32, bf16 by its precision hint, or int8 as NNCF quantized it)",
            language=PYTHON,
            artifact=OPENVINO,
            harness="tvdeploy.harnesses.openvino",
            variants=OPENVINO_VARIANTS,
            devices=("cpu",),
            reference=EAGER,
        ),
        Runtime(
            "openvino-cpp",
            "the same OpenVINO IR compiled by the OpenVINO CPU plugin in the C++ infer and bench programs",
            language=CPP,
            artifact=OPENVINO,
            harness="tvdeploy.harnesses.cpp",
            variants=OPENVINO_VARIANTS,
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


def runtimes_in(language: str) -> list[str]:
    return [name for name, r in RUNTIMES.items() if r.language == language]


def cross_language_pairs() -> list[tuple[str, str]]:
    """(candidate, reference) runtimes that load the same artifact in different languages, e.g.
    (ts-cpp, ts-python): their ratio isolates the harness language."""
    return [
        (name, r.reference)
        for name, r in RUNTIMES.items()
        if r.reference and RUNTIMES[r.reference].artifact == r.artifact and RUNTIMES[r.reference].language != r.language
    ]
