"""Static int8 quantization (tvdeploy.build.quantize) of a small residual network calibrated on the
shipped images (fixtures in tests/build/conftest.py): each path (NNCF for OpenVINO, QDQ for ONNX
Runtime, PT2E for Inductor) puts int8 operations in the graph and stays close to float32, and the
calibration set is the first inputs, recorded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from calibration_helpers import shipped_image_calls
from toy_models import residual_classifier

from tvdeploy.build import quantize


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    return shipped_image_calls(tmp_path_factory.mktemp("calibration"))


@pytest.fixture(scope="module")
def net():
    return residual_classifier(0)


# int8 against float32 on random weights: the largest logit difference relative to the logits' scale.
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
