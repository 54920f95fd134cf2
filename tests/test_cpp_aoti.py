"""The C++ programs on an AOTInductor package (aoti-cpp): the same loader choice by file, the same
results as the package in Python and as eager, any batch size, and TorchScript-only options refused.

Compiling the package takes about ten seconds; the programs come from the session fixture."""

from __future__ import annotations

import json

import pytest
import torch
from cpp_helpers import EXIT_USAGE, assert_infer_reproduces, conv_bn_classifier, random_image, run, write_input

from tvdeploy.builds import artifact_file
from tvdeploy.exporters import build_artifact
from tvdeploy.harnesses import harness


@pytest.fixture(scope="module")
def toy_package(tmp_path_factory):
    """A tiny conv classifier and its AOTInductor package folder: (folder, eager module)."""
    net = conv_bn_classifier(seed=1)
    folder = tmp_path_factory.mktemp("aoti") / "toy"
    record = build_artifact("aoti", net, torch.randn(2, 3, 16, 16), folder)
    assert record["status"] == "ok", record
    # What was compiled, recorded with the package.
    assert record["inductor_configs"] == {"freezing": True, "cpp.dynamic_threads": True}
    assert record["cpu_vec_isa"]
    return folder, net


def test_infer_runs_the_package_like_python_and_eager(cpp_binaries, toy_package, toy_labels, tmp_path):
    folder, net = toy_package
    package = artifact_file(folder)
    assert package.suffix == ".pt2"
    python = harness("aoti-python").load(folder, "toy", torch.device("cpu"))
    assert_infer_reproduces(cpp_binaries["infer"], package, toy_labels, tmp_path, [python, net])


def test_bench_reports_the_format_and_refuses_a_torchscript_transform(cpp_binaries, toy_package, tmp_path):
    package = artifact_file(toy_package[0])
    dat = write_input(tmp_path / "img.dat", random_image(3))
    out = tmp_path / "bench.json"
    common = ["--model", package, "--input", dat, "--device", "cpu", "--threads", 1, "--batch-size", 4]
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    proc = run(cpp_binaries["bench"], *common, *protocol, "--output", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "aoti" and report["batch_size"] == 4 and len(report["rounds"][0]["latencies_ms"]) >= 3
    refused = run(cpp_binaries["bench"], *common, "--transform", "optimize_for_inference", "--output", out)
    assert refused.returncode == EXIT_USAGE and "applies to TorchScript only" in refused.stderr
