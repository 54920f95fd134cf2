"""The registry is the one definition of runtimes, variants and devices: everything that names
them elsewhere (config schema, rules, harnesses) must agree with it."""

import importlib

import pytest
import yaml
from conftest import REPO_ROOT

from tvdeploy import registry
from tvdeploy.registry import (
    BUILT_ARTIFACTS,
    CPP,
    DEVICE_CHOICES,
    DEVICES,
    EAGER,
    PLAIN,
    PYTHON,
    RUNTIMES,
    TORCHSCRIPT,
    VARIANTS,
    WEIGHTS,
    Deployment,
    paths,
)

SCHEMA = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_schema_allows_exactly_the_registry_names():
    properties = SCHEMA["properties"]
    assert properties["runtimes"]["items"]["enum"] == list(RUNTIMES)
    assert properties["variants"]["items"]["enum"] == list(VARIANTS)
    assert properties["devices"]["items"]["enum"] == list(DEVICE_CHOICES)


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_every_runtime_is_complete(name):
    rt = RUNTIMES[name]
    assert rt.language in (PYTHON, CPP) and rt.artifact in (WEIGHTS, TORCHSCRIPT, *BUILT_ARTIFACTS)
    assert rt.variants and set(rt.variants) <= set(VARIANTS) and set(rt.devices) <= set(DEVICES)
    module = importlib.import_module(rt.harness)
    if rt.language == PYTHON:
        assert callable(module.load)
    else:
        assert callable(module.infer) and callable(module.bench)
    # The reference chain ends at a runtime with no reference, without cycles.
    seen = {name}
    ref = rt.reference
    while ref is not None:
        assert ref in RUNTIMES and ref not in seen, (name, ref)
        seen.add(ref)
        ref = RUNTIMES[ref].reference


def test_eager_is_the_plain_baseline():
    assert RUNTIMES[EAGER].variants == (PLAIN,) and RUNTIMES[EAGER].reference is None
    assert RUNTIMES["ts-cpp"].variants_on("cpu", ["frozen"]) == ["frozen"]
    # The baseline always runs, whatever variants are selected.
    assert RUNTIMES[EAGER].variants_on("cpu", ["frozen"]) == [PLAIN]


def test_device_restricted_variants():
    assert RUNTIMES["ts-python"].variants_on("cpu", ["plain", "fp16", "frozen"]) == ["plain", "frozen"]
    assert RUNTIMES["ts-python"].variants_on("cuda", ["fp16", "plain"]) == ["plain", "fp16"]


def test_load_transforms_are_known_and_only_optimized_the_fused_and_cudagraphs_have_one():
    assert {v.load_transform for v in VARIANTS.values()} <= set(registry.LOAD_TRANSFORMS)
    transformed = {n: v.load_transform for n, v in VARIANTS.items() if v.load_transform != registry.NO_TRANSFORM}
    assert transformed == {
        "optimized": registry.OPTIMIZE_FOR_INFERENCE,
        "fused": registry.ONEDNN_FUSION,
        "fused_bf16": registry.ONEDNN_FUSION,
        "cudagraphs": registry.CUDA_GRAPH,
    }
    assert VARIANTS["fused_bf16"].precision == VARIANTS["bf16"].precision == "bfloat16"
    assert VARIANTS["fused_bf16"].devices == ("cpu",) and VARIANTS["fused_bf16"].prefers_trace
    # bfloat16 carries its own tolerance and runs only where the CPU has native bf16.
    assert VARIANTS["bf16"].cross_variant_rtol_key == "bf16_rtol"
    assert VARIANTS["bf16"].native_cpu_flags == registry.BF16_CPU_FLAGS
    assert VARIANTS["fused"].devices == ("cpu",) and VARIANTS["fused"].prefers_trace
    assert VARIANTS["cudagraphs"].devices == ("cuda",)
    # The AOTInductor runtimes share two variants with TorchScript: half precision (a package of
    # its own) and the CUDA graph replay (a load transform of the float32 package); int8 with the
    # peers (a package of its own, quantized by PT2E).
    aoti = (PLAIN, "fp16", "cudagraphs", "int8")
    assert RUNTIMES["aoti-cpp"].variants == RUNTIMES["aoti-python"].variants == aoti
    assert registry.AOTI_BUILT_VARIANTS == (PLAIN, "fp16", "int8")
    assert [registry.built_variant(v) for v in registry.AOTI_VARIANTS] == [PLAIN, "fp16", PLAIN, "int8"]


def test_the_int8_variant_is_built_by_the_peer_runtimes_own_tools_not_by_torchscript():
    """int8 is calibrated: ONNX Runtime and OpenVINO (both harnesses) run their artifact quantized
    by their own tool, a folder of its own beside the float32 one; AOTInductor builds an int8
    package (PT2E) per device; TorchScript derives no int8 file."""
    int8 = VARIANTS[registry.INT8_VARIANT]
    assert int8.calibrated and int8.precision == "int8" and int8.devices == ("cpu",)
    assert int8.cross_variant_rtol_key == "int8_rtol"
    assert registry.CALIBRATED_VARIANTS == ("int8",)
    assert "int8" not in registry.TORCHSCRIPT_VARIANTS and "int8" not in registry.derived_variants()
    with_int8 = {name for name, r in RUNTIMES.items() if "int8" in r.variants}
    assert with_int8 == {"onnxruntime", "openvino-python", "openvino-cpp", "aoti-python", "aoti-cpp"}
    quantized_from_float = {RUNTIMES[name].artifact for name in with_int8} - set(registry.DEVICE_ARTIFACTS)
    assert quantized_from_float == set(registry.QUANTIZED_ARTIFACTS)
    assert RUNTIMES["onnxruntime"].variants_on("cpu", ["plain", "int8"]) == ["plain", "int8"]
    assert RUNTIMES["onnxruntime"].variants_on("cuda", ["plain", "int8"]) == ["plain"]
    assert paths.built_artifact("onnx", "int8") == "results/onnx/int8/{model}"
    assert paths.built_artifact_record("openvino", "int8") == "results/builds/openvino/int8/{model}.json"
    assert paths.built_artifact("onnx") == "results/onnx/{model}"
    assert paths.built_artifact("aoti", "int8") == "results/aoti/{device}/{variant}/{model}"


def test_derived_pairs_and_labels():
    assert registry.derived_variants() == [v for v in VARIANTS if v != PLAIN and not VARIANTS[v].calibrated]
    assert registry.cross_language_pairs() == [
        ("ts-cpp", "ts-python"),
        ("aoti-cpp", "aoti-python"),
        ("openvino-cpp", "openvino-python"),
    ]
    assert registry.column_label("eager", PLAIN) == "eager"
    assert registry.column_label("ts-cpp", "frozen") == "ts-cpp (frozen)"
    assert registry.column_label("aoti-cpp", PLAIN) == "aoti-cpp"
    assert registry.column_label("aoti-cpp", "cudagraphs") == "aoti-cpp (cudagraphs)"
    assert registry.column_label("ts-cpp", PLAIN) == "ts-cpp (plain)"


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown runtime 'onnx' \\(known: eager, ts-python, ts-cpp"):
        registry.runtime("onnx")
    with pytest.raises(ValueError, match="unknown variant 'int4'"):
        registry.variant("int4")


def test_table_columns_follow_the_registry_order():
    deployments = [
        Deployment("onnxruntime"),
        Deployment("ts-cpp"),
        Deployment("ts-cpp", "fused"),
        Deployment("eager"),
        Deployment("aoti-cpp", "cudagraphs"),
        Deployment("aoti-cpp"),
        Deployment("eager"),
    ]
    assert registry.ordered_labels(deployments) == [
        "eager",
        "ts-cpp (plain)",
        "ts-cpp (fused)",
        "aoti-cpp",
        "aoti-cpp (cudagraphs)",
        "onnxruntime",
    ]


def test_a_deployment_has_one_key_and_one_label():
    fused = Deployment("ts-cpp", "fused")
    assert (fused.key, fused.label) == ("ts-cpp/fused", "ts-cpp (fused)")
    assert Deployment.from_key(fused.key) == fused
    # The key always names the variant; the label only where the runtime has a choice of them.
    assert (Deployment("eager").key, Deployment("eager").label) == ("eager/plain", "eager")
    with pytest.raises(ValueError, match="not a deployment key"):
        Deployment.from_key("eager")
    with pytest.raises(ValueError, match="unknown variant 'int4'"):
        Deployment("ts-cpp", "int4")


def test_tasks_are_declared_once_with_their_contract():
    from tvdeploy.registry import TASKS

    classification = TASKS[registry.CLASSIFICATION]
    assert classification.input_layout == "NCHW" and classification.batches and classification.higher_is_better
    assert classification.adapter == "tvdeploy.tasks.classification"
    with pytest.raises(ValueError, match="unknown task 'no_such_task'"):
        registry.task("no_such_task")
    refusing = registry.Task(
        **{**classification.__dict__, "unsupported": (registry.Unsupported("no kernels", runtime="onnxruntime"),)}
    )
    assert refusing.refusal("onnxruntime", PLAIN, "cpu") == "no kernels"
    assert refusing.refusal("eager", PLAIN, "cpu") is None


def test_model_sheet_schema_allows_exactly_the_registry_tasks_and_their_metrics():
    sheet_schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "models.schema.yaml").read_text())
    assert sheet_schema["properties"]["task"]["enum"] == list(registry.TASKS)
    metrics = list(dict.fromkeys(t.accuracy_metric for t in registry.TASKS.values()))
    assert sheet_schema["properties"]["metric"]["enum"] == metrics
    # Every column is required, but resize_size and interpolation only of the tasks whose preset
    # resizes (those with no example size of their own), crop_size only of the tasks whose preset
    # crops (not segmentation's) and clip_len only of the tasks that take clips.
    optional = ("resize_size", "interpolation", "crop_size", "clip_len")
    assert sheet_schema["required"] == [c for c in sheet_schema["properties"] if c not in optional]
    resizes, crops, clips = sheet_schema["allOf"]
    unresized = [t.name for t in registry.TASKS.values() if t.example_size is not None]
    assert resizes["if"] == {"properties": {"task": {"enum": unresized}}}
    assert resizes["else"] == {"required": ["resize_size", "interpolation"]}
    uncropped = ["segmentation", *unresized]
    assert crops["if"] == {"properties": {"task": {"enum": uncropped}}}
    assert crops["then"] == {"not": {"required": ["crop_size"]}} and crops["else"] == {"required": ["crop_size"]}
    clip_tasks = [t.name for t in registry.TASKS.values() if t.input_kind == registry.CLIP]
    assert clips["if"] == {"properties": {"task": {"const": clip_tasks[0]}}} and len(clip_tasks) == 1
    assert clips["then"] == {"required": ["clip_len"]} and clips["else"] == {"not": {"required": ["clip_len"]}}


def test_model_sheet_schema_allows_exactly_the_registry_quantized_engines():
    sheet_schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "models.schema.yaml").read_text())
    assert sheet_schema["properties"]["quantized_engine"]["enum"] == ["", *registry.QUANTIZED_ENGINES]
