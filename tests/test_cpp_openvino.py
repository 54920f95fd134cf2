"""The C++ programs on an OpenVINO IR (openvino-cpp): linked against the openvino wheel's CMake
package, the same results as OpenVINO in Python and as eager at any batch size, float32, and
TorchScript-only options and the GPU refused. The programs come from the session fixture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cpp_helpers import ATOL, EXIT_USAGE, conv_bn_classifier, infer_args, random_image, run, write_input

from tvdeploy.builds import artifact_file
from tvdeploy.exporters import build_artifact
from tvdeploy.harnesses import harness

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy_ir(tmp_path_factory):
    """A tiny conv classifier converted to OpenVINO IR: (folder, eager module)."""
    net = conv_bn_classifier(seed=3)
    folder = tmp_path_factory.mktemp("openvino") / "toy"
    record = build_artifact("openvino", net, torch.randn(2, 3, 16, 16), folder)
    assert record["status"] == "ok", record
    return folder, net


def test_infer_runs_the_ir_like_python_and_eager(cpp_binaries, toy_ir, toy_labels, tmp_path):
    folder, net = toy_ir
    model = artifact_file(folder)
    assert model.suffix == ".xml"
    images = [random_image(i) for i in range(2)] + [random_image(9, shape=(3, 3, 16, 16))]
    inputs = [write_input(tmp_path / f"img{i}.dat", image) for i, image in enumerate(images)]
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model, toy_labels, out, *inputs))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    python = harness("openvino-python").load(folder, "toy", torch.device("cpu"))
    rows = [(image, row) for image in images for row in range(image.shape[0])]
    assert len(results) == len(rows)
    for result, (image, row) in zip(results, rows, strict=True):
        x = torch.from_numpy(image)
        with torch.inference_mode():
            eager, converted = net(x)[row], python(x)[row]
        np.testing.assert_allclose(result["logits"], converted.numpy(), atol=ATOL, rtol=0)
        np.testing.assert_allclose(result["logits"], eager.numpy(), atol=ATOL, rtol=0)


def test_bench_reports_the_format_and_refuses_what_does_not_apply(cpp_binaries, toy_ir, tmp_path):
    model = artifact_file(toy_ir[0])
    dat = write_input(tmp_path / "img.dat", random_image(3))
    out = tmp_path / "bench.json"
    common = ["--model", model, "--input", dat, "--threads", 1, "--batch-size", 4]
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    proc = run(cpp_binaries["bench"], *common, "--device", "cpu", *protocol, "--output", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "openvino" and report["threads"] == 1 and len(report["rounds"][0]["latencies_ms"]) >= 3
    refused = run(
        cpp_binaries["bench"], *common, "--device", "cpu", "--transform", "optimize_for_inference", "--output", out
    )
    assert refused.returncode == EXIT_USAGE and "applies to TorchScript only" in refused.stderr
