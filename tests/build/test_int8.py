"""Static int8 quantization of a small residual network calibrated on the shipped images
(tests/calibration_helpers.py): each path as a library (tvdeploy.build.quantize: NNCF for
OpenVINO, QDQ for ONNX Runtime, PT2E for Inductor) puts int8 operations in the graph and stays
close to float32, on the first inputs, recorded; and the int8 artifacts the workflow builds
(tvdeploy.build.quantized, the aoti builder): quantized from the float32 ONNX and OpenVINO
folders or by PT2E into an AOTInductor package, recorded like every build (tool, calibration
inputs with their hashes, the float32 build it came from), loaded by the same harnesses; a
float32 artifact that failed gives an int8 record that says so."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import onnx
import pytest
import torch
from calibration_helpers import shipped_image_calls
from toy_models import residual_classifier

from tvdeploy.build import quantize
from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.quantized import quantize_artifact
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


# int8 against float32 on random weights: the largest logit difference relative to the logits'
# scale (measured: under 0.05).
MAX_RELATIVE_DIFF = 0.1


def relative_diff(reference: torch.Tensor, candidate) -> float:
    candidate = torch.as_tensor(np.asarray(candidate), dtype=torch.float32)
    return float((candidate - reference).abs().max() / reference.abs().max())


def test_the_calibration_set_is_the_first_inputs_and_is_recorded(calls):
    calibration = quantize.calibration_set(calls, 2)
    assert len(calibration.calls) == 2 and calibration.calls[0][0].shape == (1, 3, 32, 32)
    assert [c[0]["dat"] for c in calibration.record["inputs"]] == [calls[0][0].name, calls[1][0].name]
    assert calibration.record["count"] == 2 and len(calibration.record["inputs"][0][0]["sha256"]) == 64
    with pytest.raises(ValueError, match=f"asks for 9 inputs but the configured inputs give {len(calls)}"):
        quantize.calibration_set(calls, 9)
    with pytest.raises(ValueError, match="at least one input"):
        quantize.calibration_set(calls, 0)


def test_openvino_through_nncf(net, calls):
    import openvino as ov

    calibration = quantize.calibration_set(calls, len(calls))
    model = ov.convert_model(net, example_input=calibration.calls[0][0])
    quantized, settings = quantize.quantize_openvino(model, calibration)
    assert settings["tool"] == "nncf.quantize"
    assert any(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
    compiled = ov.Core().compile_model(quantized, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    for (x,) in calibration.calls:
        with torch.no_grad():
            assert relative_diff(net(x), compiled([x.numpy()])[0]) < MAX_RELATIVE_DIFF


def test_onnxruntime_static_qdq(net, calls, tmp_path):
    import onnx
    import onnxruntime

    calibration = quantize.calibration_set(calls, len(calls))
    source, destination = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, calibration.calls[0], str(source), dynamo=False, input_names=["input"])
    settings = quantize.quantize_onnx(source, destination, calibration, ["input"])
    assert settings["format"] == "QDQ" and not (tmp_path / "int8.preprocessed.onnx").exists()
    # 7-bit weights only where u8s8 products would saturate (no VNNI): checked below either way.
    from tvdeploy.host.devices import read_cpu_flags
    from tvdeploy.registry.precisions import skip_reason

    assert settings["reduce_range"] == (skip_reason("int8", "cpu", read_cpu_flags()) is not None)
    ops = {node.op_type for node in onnx.load(str(destination)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    session = onnxruntime.InferenceSession(str(destination), providers=["CPUExecutionProvider"])
    for (x,) in calibration.calls:
        with torch.no_grad():
            assert relative_diff(net(x), session.run(None, {"input": x.numpy()})[0]) < MAX_RELATIVE_DIFF


def test_pt2e_for_inductor(net, calls):
    calibration = quantize.calibration_set(calls, len(calls))
    converted, settings = quantize.quantize_pt2e(net, calibration.calls[0], calibration)
    assert settings["export"] == "torch.export.export(strict=True)"
    targets = {str(node.target) for node in converted.graph.nodes}
    assert any("quantize_per_tensor" in t for t in targets) and any("dequantize_per_channel" in t for t in targets)
    for (x,) in calibration.calls:
        with torch.no_grad():
            assert relative_diff(net(x), converted(x)) < MAX_RELATIVE_DIFF


def test_pt2e_needs_the_strict_export_for_a_module_called_twice(net):
    """Why quantize_pt2e exports strictly: the default export makes the ReLU called twice one
    partition with two outputs, which the quantizer refuses (torchao 0.18, torch 2.14)."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    exported = torch.export.export(net, (torch.randn(1, 3, 32, 32),)).module()
    with pytest.raises(ValueError, match="more than one output node"):
        prepare_pt2e(exported, quantizer)


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
    assert record["calibration"] == calibration.record
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
