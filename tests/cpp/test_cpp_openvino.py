"""The C++ programs on an OpenVINO IR (openvino-cpp): linked against the openvino wheel's CMake
package, the same results as OpenVINO in Python and as eager at any batch size, float32, and
TorchScript-only options and the GPU refused. The programs come from the session fixture."""

from __future__ import annotations

import json

import pytest
import torch
from cpp_helpers import EXIT_USAGE, assert_infer_reproduces, random_image, run, write_input
from toy_models import conv_bn_classifier

from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.records import artifact_file
from tvdeploy.harnesses import harness
from tvdeploy.tasks import classification

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy_ir(tmp_path_factory):
    """A tiny conv classifier converted to OpenVINO IR: (folder, eager module)."""
    net = conv_bn_classifier(seed=3)
    folder = tmp_path_factory.mktemp("openvino") / "toy"
    record = build_artifact("openvino", net, (torch.randn(2, 3, 16, 16),), folder, classification)
    assert record["status"] == "ok", record
    return folder, net


def test_infer_runs_the_ir_like_python_and_eager(cpp_binaries, toy_ir, toy_labels, tmp_path):
    folder, net = toy_ir
    model = artifact_file(folder)
    assert model.suffix == ".xml"
    python = harness("openvino-python").load(folder, "toy", torch.device("cpu"))
    assert_infer_reproduces(cpp_binaries["infer"], model, toy_labels, tmp_path, [python, net])


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
