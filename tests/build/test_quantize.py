"""Static int8 quantization (tvdeploy.build.quantize) of a small residual network calibrated on the
shipped images: each path (NNCF for OpenVINO, QDQ for ONNX Runtime, PT2E for Inductor) puts int8
operations in the graph and stays close to float32, and the calibration set is the first inputs,
recorded."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from torch import nn

from tvdeploy.build import quantize
from tvdeploy.inputs.dat import write_dat
from tvdeploy.tasks import classification

# Small enough to quantize in seconds; the images keep their content.
SPEC = {"resize_size": 40, "crop_size": 32, "interpolation": "bilinear", "antialias": True,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # fmt: skip
# int8 against float32 on random weights: the largest logit difference relative to the logits' scale.
MAX_RELATIVE_DIFF = 0.1


class Residual(nn.Module):
    """A stem and one residual block laid out as torchvision's BasicBlock (one ReLU module called
    after the first convolution and after the skip connection), pooled into 10 logits."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1, self.bn1 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        identity = self.stem(x)
        out = self.relu(self.bn1(self.conv1(identity)))
        out = self.relu(self.bn2(self.conv2(out)) + identity)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    images = sorted(p for p in (REPO_ROOT / "data" / "images").iterdir() if p.suffix in (".png", ".jpg"))
    paths = []
    for image in images:
        (tensor,) = classification.preprocess(image, SPEC)
        write_dat(tensor, folder / f"{image.stem}.dat", "NCHW", {"image": str(image)})
        paths.append([folder / f"{image.stem}.dat"])
    return paths


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = Residual().eval()
    # Batch-norm statistics of its own activations (a cumulative average over one batch): with the
    # defaults (0, 1) the activations drift in scale layer by layer.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32))
    return model.eval()


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
