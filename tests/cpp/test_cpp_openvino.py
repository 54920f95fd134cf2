"""The C++ programs on an OpenVINO IR (openvino-cpp): linked against the openvino wheel's CMake
package, the same results as OpenVINO in Python and as eager at any batch size, float32, bf16
where the CPU has it (refused where the plugin would fall back), and TorchScript-only options and
the GPU refused. The programs come from the session fixture."""

from __future__ import annotations

import json
import re

import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, assert_infer_reproduces, infer_args, random_image, run, write_input
from toy_models import conv_bn_classifier

from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.records import artifact_file
from tvdeploy.harnesses import harness
from tvdeploy.harnesses.openvino import inference_precision
from tvdeploy.host.devices import read_cpu_flags
from tvdeploy.registry.precisions import BFLOAT16, PRECISIONS, skip_reason
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


def openvino_hints() -> tuple[str, ...]:
    """The inference precisions the registry asks OpenVINO for, one per precision, in its order."""
    return tuple(dict.fromkeys(p.openvino_hint for p in PRECISIONS.values()))


def test_the_inference_precision_choices_are_the_registry_hints(cpp_binaries):
    for program in ("infer", "bench"):
        proc = run(cpp_binaries[program], "--help")
        listed = re.search(r"--inference-precision (\S+)\n.*\(default: (\w+)\)", proc.stdout)
        assert listed, proc.stdout
        assert tuple(listed[1].split("|")) == openvino_hints() and listed[2] == "f32"


def test_bf16_runs_where_the_cpu_has_it_and_is_refused_where_the_plugin_would_fall_back(cpp_binaries, toy_ir, tmp_path):
    """The bf16 variant compiles the float32 IR for bfloat16, in both harnesses. On a CPU without
    native bfloat16 the plugin silently runs float32: that is an error, never a bf16 timing."""
    folder, net = toy_ir
    model = artifact_file(folder)
    dat = write_input(tmp_path / "img.dat", random_image(4))
    out = tmp_path / "bench.json"
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    common = ["--model", model, "--input", dat, "--threads", 1, "--device", "cpu", *protocol, "--output", out]
    assert inference_precision("bf16") == "bf16" and inference_precision("int8") == "f32"
    proc = run(cpp_binaries["bench"], *common, "--inference-precision", inference_precision("bf16"))
    native = skip_reason(BFLOAT16, "cpu", read_cpu_flags()) is None
    if native:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(out.read_text())["inference_precision"] == "bf16"
        python = harness("openvino-python").load(folder, "toy", torch.device("cpu"), "bf16")
        assert python.settings["INFERENCE_PRECISION_HINT"] in ("bf16", "<Type: 'bfloat16'>")
        x = torch.randn(2, 3, 16, 16)
        # Within the bf16 tolerance of float32 eager, not equal to it: it did compute in bfloat16.
        scale = net(x).abs().max()
        assert 0 < (python(x) - net(x)).abs().max() <= 0.05 * scale
    else:
        assert proc.returncode == EXIT_RUNTIME and "for f32, not bf16" in proc.stderr, proc.stderr
        assert not out.exists()
        with pytest.raises(RuntimeError, match="for f32, not bf16"):
            harness("openvino-python").load(folder, "toy", torch.device("cpu"), "bf16")
    # Float32 is asked for explicitly, and gives what the default gives.
    assert run(cpp_binaries["bench"], *common, "--inference-precision", "f32").returncode == 0
    assert json.loads(out.read_text())["inference_precision"] == "f32"


def test_an_inference_precision_is_refused_for_a_libtorch_model_and_outside_its_choices(
    cpp_binaries, toy_model, toy_labels, tmp_path
):
    out = tmp_path / "out.json"
    dat = write_input(tmp_path / "img.dat", random_image(5))
    proc = run(
        cpp_binaries["infer"], *infer_args(toy_model[0], toy_labels, out, dat, extra=("--inference-precision", "bf16"))
    )
    assert proc.returncode == EXIT_USAGE and "applies to OpenVINO IR only" in proc.stderr
    proc = run(
        cpp_binaries["infer"], *infer_args(toy_model[0], toy_labels, out, dat, extra=("--inference-precision", "fp8"))
    )
    assert (
        proc.returncode == EXIT_USAGE and "--inference-precision must be one of f32|bf16|f16, got 'fp8'" in proc.stderr
    )
    assert not out.exists()
