"""The int8 artifacts the workflow builds (tvdeploy.build.quantized): quantized from the float32
ONNX and OpenVINO folders, recorded like every build (tool, calibration inputs with their hashes,
the float32 build it came from), loaded by the same harnesses, and close to float32 eager; a
float32 artifact that failed gives an int8 record that says so."""

from __future__ import annotations

import json
import zipfile

import onnx
import pytest
import torch
from calibration_helpers import shipped_image_calls
from toy_models import residual_classifier

from tvdeploy.build import quantize
from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.quantized import calibration_calls, quantize_artifact
from tvdeploy.build.records import ArtifactUnavailable, artifact_file, read_build
from tvdeploy.harnesses import harness
from tvdeploy.registry import INT8_VARIANT, ONNX, OPENVINO, RUNTIMES
from tvdeploy.tasks import adapter


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    return shipped_image_calls(tmp_path_factory.mktemp("calibration"))


@pytest.fixture(scope="module")
def net():
    return residual_classifier(0)


# The int8 logits against float32 eager's, relative to their scale (measured: under 0.05).
MAX_RELATIVE_DIFF = 0.1
INT8_OPERATIONS = {ONNX: "QuantizeLinear", OPENVINO: "FakeQuantize"}


def operations(kind: str, path) -> set[str]:
    if kind == ONNX:
        return {node.op_type for node in onnx.load(str(path)).graph.node}
    import openvino as ov

    return {op.get_type_name() for op in ov.Core().read_model(str(path)).get_ops()}


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino-python"])
def test_an_int8_artifact_is_quantized_from_the_float32_one_and_loads_in_its_harness(runtime, net, calls, tmp_path):
    kind = RUNTIMES[runtime].artifact
    task = adapter("classification")
    example = (torch.randn(2, 3, 32, 32),)
    assert build_artifact(kind, net, example, tmp_path / "float", task)["status"] == "ok"
    calibration = quantize.calibration_set(calls, len(calls))

    provenance = {"model": "m", "weights": {"source": "random", "seed": 0}}
    record = quantize_artifact(kind, tmp_path / "float", tmp_path / "int8", calibration, INT8_VARIANT, provenance)

    assert record["status"] == "ok", record["error"]
    assert read_build(tmp_path / "int8") == record
    # The tool's settings sit apart: none of them overwrites what the record says of the model.
    assert {k: record[k] for k in provenance} == provenance
    assert record["quantization"]["tool"] in ("onnxruntime.quantization.quantize_static", "nncf.quantize")
    assert record["variant"] == INT8_VARIANT and record["quantized_from"]["status"] == "ok"
    assert [call[0]["dat"] for call in record["calibration"]["inputs"]] == [call[0].name for call in calls]
    assert INT8_OPERATIONS[kind] in operations(kind, artifact_file(tmp_path / "int8"))
    assert INT8_OPERATIONS[kind] not in operations(kind, artifact_file(tmp_path / "float"))
    module = harness(runtime).load(tmp_path / "int8", "m", torch.device("cpu"), INT8_VARIANT)
    for (x,) in calibration.calls:
        with torch.no_grad():
            reference = net(x)
        assert float((module(x) - reference).abs().max() / reference.abs().max()) < MAX_RELATIVE_DIFF
    # The dynamic batch of the float32 export stays dynamic.
    assert module(torch.randn(3, 3, 32, 32)).shape == (3, 10)


def test_an_unbuilt_float32_artifact_gives_an_int8_record_with_its_failure(net, calls, tmp_path):
    (tmp_path / "float").mkdir()
    failure = {"artifact": ONNX, "variant": "plain", "file": "model.onnx", "status": "failed",
               "error_class": "export error", "error": "RuntimeError: packed params [known upstream: pytorch#137111]",
               "upstream": ["pytorch#137111"]}  # fmt: skip
    (tmp_path / "float" / "build.json").write_text(json.dumps(failure))

    record = quantize_artifact(
        ONNX, tmp_path / "float", tmp_path / "int8", quantize.calibration_set(calls, 1), INT8_VARIANT
    )

    assert record["status"] == "failed" and record["error_class"] == "export error"
    assert record["error"].startswith("its float32 onnx artifact was not built: RuntimeError: packed params")
    assert record["upstream"] == ["pytorch#137111"]
    assert sorted(p.name for p in (tmp_path / "int8").iterdir()) == ["build.json"]
    with pytest.raises(ArtifactUnavailable, match="float32 onnx artifact was not built"):
        artifact_file(tmp_path / "int8")


def test_a_quantization_that_fails_is_recorded_with_its_class(net, calls, tmp_path, monkeypatch):
    from tvdeploy.build import quantized

    assert build_artifact(ONNX, net, (torch.randn(2, 3, 32, 32),), tmp_path / "float", adapter("classification"))

    def broken(*args, **kwargs):
        raise RuntimeError("no calibration statistics for node /conv1/Conv")

    monkeypatch.setattr(quantized, "quantize_onnx", broken)
    record = quantize_artifact(
        ONNX, tmp_path / "float", tmp_path / "int8", quantize.calibration_set(calls, 1), INT8_VARIANT
    )
    assert record["status"] == "failed" and record["error_class"] == "quantization error"
    assert "no calibration statistics" in record["error"]
    assert sorted(p.name for p in (tmp_path / "int8").iterdir()) == ["build.json"]


def test_calibration_files_are_grouped_by_model_call():
    files = ["a.image1.dat", "a.image2.dat", "b.image1.dat", "b.image2.dat"]
    assert calibration_calls(files, 2) == [files[:2], files[2:]]
    with pytest.raises(ValueError, match="3 calibration files do not make calls of 2 inputs"):
        calibration_calls(files[:3], 2)


def test_an_int8_aotinductor_package_is_quantized_by_pt2e_and_keeps_its_dynamic_batch(net, calls, tmp_path):
    """LibTorch's int8 path: PT2E (torchao's X86InductorQuantizer) on the same calibration inputs,
    exported again with the dynamic batch and compiled by AOTInductor; loaded by the aoti harness."""
    calibration = quantize.calibration_set(calls, len(calls))
    example = (torch.randn(2, 3, 32, 32),)
    with pytest.raises(ValueError, match="quantized on calibration inputs, and none were given"):
        build_artifact("aoti", net, example, tmp_path / "none", adapter("classification"), variant=INT8_VARIANT)
    record = build_artifact(
        "aoti",
        net,
        example,
        tmp_path / "int8",
        adapter("classification"),
        options={"calibration": calibration},
        variant=INT8_VARIANT,
    )
    assert record["status"] == "ok", record["error"]
    assert record["variant"] == INT8_VARIANT and "X86InductorQuantizer" in record["quantization"]["tool"]
    # Inductor lowered the quantized convolutions and the head to oneDNN's int8 kernels.
    with zipfile.ZipFile(artifact_file(tmp_path / "int8")) as package:
        code = "".join(package.read(n).decode(errors="ignore") for n in package.namelist() if n.endswith(".cpp"))
    assert "qconv" in code and "qlinear" in code
    module = harness("aoti-python").load(tmp_path / "int8", "m", torch.device("cpu"), INT8_VARIANT)
    for (x,) in calibration.calls:
        with torch.no_grad():
            reference = net(x)
        assert float((module(x) - reference).abs().max() / reference.abs().max()) < MAX_RELATIVE_DIFF
    assert module(torch.randn(3, 3, 32, 32)).shape == (3, 10)
