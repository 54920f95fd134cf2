"""Tests of the command lines of the C++ programs (infer, bench): help, usage errors, accepted choices."""

from __future__ import annotations

import pytest
from cpp_helpers import EXIT_USAGE, infer_args, random_image, run, write_input

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")


def test_infer_help(cpp_binaries):
    proc = run(cpp_binaries["infer"], "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: infer")
    for option in ("--model", "--labels", "--device", "--topk", "--threads", "--output"):
        assert option in proc.stdout


def test_bench_missing_output_and_help(cpp_binaries, toy_model, bench_input):
    model_path, _ = toy_model
    proc = run(cpp_binaries["bench"], "--model", model_path, "--input", bench_input)
    assert proc.returncode == EXIT_USAGE
    assert "--output" in proc.stderr and "usage: bench" in proc.stderr
    proc = run(cpp_binaries["bench"], "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: bench")


def test_unknown_transform_is_a_usage_error(cpp_binaries, toy_model, toy_labels, tmp_path):
    dat = write_input(tmp_path / "x.dat", random_image(0))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(toy_model[0], toy_labels, out, dat, extra=("--transform", "fuse")))
    assert proc.returncode == EXIT_USAGE and "--transform" in proc.stderr
    assert not out.exists()
