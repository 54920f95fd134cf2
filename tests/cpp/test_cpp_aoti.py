"""The C++ programs on an AOTInductor package (aoti-cpp): the same loader choice by file, the same
results as the package in Python and as eager, any batch size, and TorchScript-only options refused.

Compiling the package takes about ten seconds; the programs come from the session fixture."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, assert_infer_reproduces, random_image, run, write_input
from toy_models import conv_bn_classifier

from tvdeploy.build import exporters
from tvdeploy.build.exporters import aoti_inductor_configs, build_artifact
from tvdeploy.build.records import ThreadsMismatch, artifact_file, check_baked_threads
from tvdeploy.harnesses import harness
from tvdeploy.measure.bench import Protocol
from tvdeploy.registry import CLASSIFICATION
from tvdeploy.tasks import classification


@pytest.fixture(scope="module")
def toy_package(tmp_path_factory):
    """A tiny conv classifier and its AOTInductor package folder: (folder, eager module)."""
    net = conv_bn_classifier(seed=1)
    folder = tmp_path_factory.mktemp("aoti") / "toy"
    record = build_artifact("aoti", net, (torch.randn(2, 3, 16, 16),), folder, classification)
    assert record["status"] == "ok", record
    # What was compiled, recorded with the package.
    assert record["inductor_configs"] == {"freezing": True, "cpp.weight_prepack": True, "cpp.dynamic_threads": True}
    assert record["cpu_vec_isa"]
    return folder, net


@pytest.mark.slow
def test_infer_runs_the_package_like_python_and_eager(cpp_binaries, toy_package, toy_labels, tmp_path):
    folder, net = toy_package
    package = artifact_file(folder)
    assert package.suffix == ".pt2"
    python = harness("aoti-python").load(folder, "toy", torch.device("cpu"))
    assert_infer_reproduces(cpp_binaries["infer"], package, toy_labels, tmp_path, [python, net])


@pytest.mark.slow
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


def test_tuned_settings_are_what_is_compiled_and_recorded():
    assert aoti_inductor_configs() == exporters.AOTI_INDUCTOR_CONFIGS
    baked = aoti_inductor_configs(threads=2, max_autotune=True)
    assert baked["cpp.threads"] == 2 and "cpp.dynamic_threads" not in baked
    assert baked["max_autotune"] is True and baked["max_autotune_gemm_backends"] == "CPP,ATEN"
    assert baked["freezing"] is True and baked["cpp.weight_prepack"] is True


@pytest.mark.slow
def test_a_package_with_its_thread_count_compiled_in_is_timed_on_that_count_only(cpp_binaries, tmp_path):
    net = conv_bn_classifier(seed=4)
    folder = tmp_path / "baked"
    configs = aoti_inductor_configs(threads=1)
    record = build_artifact(
        "aoti", net, (torch.randn(2, 3, 16, 16),), folder, classification, options={"inductor_configs": configs}
    )
    assert record["status"] == "ok" and record["inductor_configs"]["cpp.threads"] == 1, record
    x = torch.from_numpy(random_image(7))
    with torch.inference_mode():
        torch.testing.assert_close(harness("aoti-python").load(folder, "toy", torch.device("cpu"))(x), net(x))
    dat = write_input(tmp_path / "img.dat", random_image(8))
    protocol = Protocol(
        warmup_iters=1, warmup_max_time_s=1, min_iters=3, max_iters=5, min_time_s=0.01, max_time_s=1, rounds=1
    )
    cpp = harness("aoti-cpp")
    report = cpp.bench(
        cpp_binaries["bench"], folder, dat, "cpu", 1, protocol, threads=1, interop_threads=1, task_name=CLASSIFICATION
    )
    assert report["threads"] == 1 and report["format"] == "aoti"
    with pytest.raises(ThreadsMismatch, match="compiled for 1 threads and this benchmark runs 2"):
        cpp.bench(
            cpp_binaries["bench"],
            folder,
            dat,
            "cpu",
            1,
            protocol,
            threads=2,
            interop_threads=1,
            task_name=CLASSIFICATION,
        )
    # The Python worker refuses the same, and a GPU package has no CPU thread count to refuse.
    with pytest.raises(ThreadsMismatch):
        check_baked_threads(folder, "cpu", 2)
    check_baked_threads(folder, "cuda", 2)


def weight_reorders(bench, package, dat, tmp_path) -> int:
    """oneDNN reorders executed over three forwards of ``package`` (ONEDNN_VERBOSE lines)."""
    command = [bench, "--model", package, "--input", dat, "--device", "cpu", "--threads", 1, "--warmup-iters", 0]
    command += ["--min-iters", 2, "--max-iters", 2, "--min-time-s", 0.001, "--output", tmp_path / "verbose.json"]
    proc = subprocess.run(
        list(map(str, command)), capture_output=True, text=True, env={**os.environ, "ONEDNN_VERBOSE": "1"}, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return sum(1 for line in proc.stdout.splitlines() if ",exec,cpu,reorder," in line)


@pytest.mark.slow
def test_a_static_batch_package_has_its_weights_prepacked(cpp_binaries, toy_package, tmp_path):
    net = conv_bn_classifier(seed=1)
    folder = tmp_path / "static"
    record = build_artifact(
        "aoti", net, (torch.randn(2, 3, 16, 16),), folder, classification, options={"static_batch": True}
    )
    assert record["status"] == "ok" and record["static_batch"] == 1 and "dynamic_batch" not in record, record
    x = torch.from_numpy(random_image(9))
    with torch.inference_mode():
        torch.testing.assert_close(harness("aoti-python").load(folder, "toy", torch.device("cpu"))(x), net(x))
    dat = write_input(tmp_path / "img.dat", random_image(10))
    # With a dynamic batch the convolution reorders its weights on every call; prepacked, never.
    dynamic = weight_reorders(cpp_binaries["bench"], artifact_file(toy_package[0]), dat, tmp_path)
    static = weight_reorders(cpp_binaries["bench"], artifact_file(folder), dat, tmp_path)
    assert dynamic >= 3 and static == 0, (dynamic, static)
    # Another batch size is refused by the package itself (a run error, not a crash).
    common = [
        "--model",
        artifact_file(folder),
        "--input",
        dat,
        "--device",
        "cpu",
        "--batch-size",
        4,
        "--output",
        tmp_path / "b.json",
    ]
    proc = run(cpp_binaries["bench"], *common)
    assert proc.returncode == EXIT_RUNTIME and not (tmp_path / "b.json").exists(), proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="half precision packages are built for CUDA")
def test_fp16_package_runs_half_inside_and_float32_outside_in_python_and_cpp(cpp_binaries, toy_labels, tmp_path):
    net = conv_bn_classifier(seed=4)
    reference = copy.deepcopy(net).cuda()
    folder = tmp_path / "fp16"
    record = build_artifact(
        "aoti", net, (torch.randn(2, 3, 16, 16),), folder, classification, device=torch.device("cuda"), variant="fp16"
    )
    assert record["status"] == "ok" and record["variant"] == "fp16", record
    python = harness("aoti-python").load(folder, "toy", torch.device("cuda"), "fp16")
    image = random_image(7)
    x = torch.from_numpy(image).cuda()
    with torch.inference_mode():
        got, expected = python(x), reference(x)
    assert got.dtype == torch.float32
    scale = float(expected.abs().max())
    assert 0 < float((got - expected).abs().max()) <= 2e-2 * scale  # half precision, not float32
    out = tmp_path / "infer.json"
    dat = write_input(tmp_path / "img.dat", image)
    args = ["--model", artifact_file(folder), "--labels", toy_labels, "--device", "cuda", "--output", out, dat]
    proc = run(cpp_binaries["infer"], *args)
    assert proc.returncode == 0, proc.stderr
    logits = torch.tensor(json.loads(out.read_text())["results"][0]["logits"])
    torch.testing.assert_close(logits, got[0].cpu(), atol=1e-3 * scale, rtol=0)


@pytest.mark.slow
def test_infer_runs_an_int8_package_like_python(cpp_binaries, toy_labels, tmp_path):
    """LibTorch's int8 path in C++: the PT2E-quantized package (oneDNN int8 kernels) loaded by
    AOTIModelPackageLoader gives the Python loader's logits."""
    from tvdeploy.build.quantize import calibration_set

    calls = [[write_input(tmp_path / f"calibration{i}.dat", random_image(20 + i))] for i in range(3)]
    folder = tmp_path / "int8"
    record = build_artifact(
        "aoti",
        conv_bn_classifier(seed=1),
        (torch.randn(2, 3, 16, 16),),
        folder,
        classification,
        options={"calibration": calibration_set(calls, 3)},
        variant="int8",
    )
    assert record["status"] == "ok" and record["quantization"], record
    python = harness("aoti-python").load(folder, "toy", torch.device("cpu"), "int8")
    assert_infer_reproduces(cpp_binaries["infer"], artifact_file(folder), toy_labels, tmp_path, [python])
