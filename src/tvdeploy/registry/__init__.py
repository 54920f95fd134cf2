"""Every runtime, variant, device, task and deployment of tvdeploy, each declared once, and the
paths and failure classes of what the stages produce. Torch-free: the Snakefile imports this
while parsing.

Everything else follows from these tables: the config and model-sheet schemas' allowed values and
the C++ programs' accepted choices are checked against them by tests (tests/registry/test_registry.py,
tests/cpp/test_cpp_cli.py); the rules' wildcard constraints, the target lists, the parity pairs and the
scripts' dispatch are computed from them (tvdeploy.plan, tvdeploy.harnesses, tvdeploy.tasks).

The names are re-exported here, so callers write ``from tvdeploy.registry import RUNTIMES``;
each is defined in one submodule: variants (devices, load transforms, variants), runtimes,
tasks, deployments, precisions.
"""

from tvdeploy.registry.deployments import (
    Deployment,
    column_label,
    deployments_of,
    in_registry_order,
    ordered_labels,
)
from tvdeploy.registry.precisions import PRECISIONS, Precision, precision
from tvdeploy.registry.runtimes import (
    AOTI,
    BUILT_ARTIFACTS,
    CPP,
    DEVICE_ARTIFACTS,
    EAGER,
    ONNX,
    OPENVINO,
    PEER_REFERENCE,
    PYTHON,
    QUANTIZE_RULE,
    QUANTIZED_ARTIFACTS,
    RUNTIMES,
    TORCHSCRIPT,
    WEIGHTS,
    Runtime,
    cross_language_pairs,
    runtime,
    runtimes_in,
)
from tvdeploy.registry.tasks import (
    CLASSIFICATION,
    CLIP,
    IMAGE_PAIR,
    TASKS,
    VIDEO_CLASSIFICATION,
    Task,
    Unsupported,
    task,
)
from tvdeploy.registry.variants import (
    AOTI_BUILT_VARIANTS,
    AOTI_VARIANTS,
    BF16_CPU_FLAGS,
    CALIBRATED_VARIANTS,
    CUDA_GRAPH,
    CUDAGRAPHS,
    DEVICE_CHOICES,
    DEVICES,
    FP16,
    INT8_VARIANT,
    LOAD_TRANSFORMS,
    NO_TRANSFORM,
    ONEDNN_FUSION,
    OPTIMIZE_FOR_INFERENCE,
    PLAIN,
    QUANTIZED_ENGINES,
    TORCHSCRIPT_VARIANTS,
    VARIANTS,
    Variant,
    built_variant,
    derived_variants,
    variant,
)

__all__ = [
    "AOTI", "AOTI_BUILT_VARIANTS", "AOTI_VARIANTS", "BF16_CPU_FLAGS", "BUILT_ARTIFACTS", "CALIBRATED_VARIANTS",
    "CLASSIFICATION", "CLIP", "CPP", "CUDAGRAPHS", "CUDA_GRAPH", "DEVICES", "DEVICE_ARTIFACTS", "DEVICE_CHOICES",
    "EAGER", "FP16", "IMAGE_PAIR", "INT8_VARIANT", "LOAD_TRANSFORMS", "NO_TRANSFORM", "ONEDNN_FUSION", "ONNX",
    "OPENVINO", "OPTIMIZE_FOR_INFERENCE", "PEER_REFERENCE", "PLAIN", "PRECISIONS", "PYTHON", "QUANTIZE_RULE",
    "QUANTIZED_ARTIFACTS", "QUANTIZED_ENGINES", "RUNTIMES", "TASKS", "TORCHSCRIPT", "TORCHSCRIPT_VARIANTS",
    "VARIANTS", "VIDEO_CLASSIFICATION", "WEIGHTS", "Deployment", "Precision", "Runtime", "Task", "Unsupported",
    "Variant", "built_variant", "column_label", "cross_language_pairs", "deployments_of", "derived_variants",
    "in_registry_order", "ordered_labels", "precision", "runtime", "runtimes_in", "task", "variant"
]  # fmt: skip
