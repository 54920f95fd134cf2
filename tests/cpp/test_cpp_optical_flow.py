"""Tests of the C++ programs' optical-flow task: infer --task optical_flow takes a call's two
inputs (image1, image2, named <pair>.<input>.dat) and writes what the Python adapter's predict
writes (the same keys, summaries and flows, the flows as .dat files beside the result file), on a
toy flow model and on scripted raft_small (random weights) at 128x128; a pair out of order or
incomplete is refused before anything runs; bench --task optical_flow takes one --input per image.

The session fixture cpp_binaries (conftest.py) compiles both programs, so every test here is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cpp_helpers import EXIT_USAGE, random_image, run, save_scripted, write_input
from toy_models import FlowEstimator

from tvdeploy.predict.outputs import load_tensor_output, store_tensor_outputs
from tvdeploy.registry import paths
from tvdeploy.registry.tasks import OPTICAL_FLOW, TASKS
from tvdeploy.tasks.optical_flow import deployable, predict

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]

TASK = TASKS[OPTICAL_FLOW]
# Unequal sides, so that an H/W mix-up shows.
IMAGE_HW = (16, 24)


def write_pair(folder, name: str, seed: int, batch: int = 1, hw=IMAGE_HW) -> list:
    """The two .dat files of one call, named as tvdeploy.registry.paths names them."""
    return [
        write_input(
            folder / f"{paths.input_stem(name, input_name, TASK.input_names)}.dat",
            random_image(seed + i, shape=(batch, 3, *hw)),
            input_name=input_name,
        )
        for i, input_name in enumerate(TASK.input_names)
    ]


def infer(cpp_binaries, model_path, out, *inputs):
    return run(
        cpp_binaries["infer"],
        "--model",
        model_path,
        "--task",
        OPTICAL_FLOW,
        "--device",
        "cpu",
        "--threads",
        1,
        "--output",
        out,
        *inputs,
    )


@pytest.fixture(scope="module")
def toy_flow(tmp_path_factory):
    """The toy flow model as deployed (its last flow alone, scripted) and undeployed (its list)."""
    net = FlowEstimator(seed=0)
    example = tuple(torch.from_numpy(random_image(s, shape=(1, 3, *IMAGE_HW))) for s in (0, 1))
    with torch.inference_mode():
        wrapped, _ = deployable(net, net(*example))
    folder = tmp_path_factory.mktemp("flow")
    deployed = save_scripted(wrapped, folder / "flow.pt")
    save_scripted(FlowEstimator(seed=0), folder / "flows.pt")
    return {"deployed": (folder / "flow.pt", deployed), "list": folder / "flows.pt"}


def assert_same_as_python(cpp_out, results, python_record, python_results, count, tol=1e-5):
    """``tol``: relative and absolute, on the flows and their summaries (RAFT's 12 refinement
    steps accumulate float differences of thread counts and kernels: 1e-4 px)."""
    assert len(results) == len(python_results) == count
    for cpp_entry, py_entry in zip(results, python_results, strict=True):
        assert list(cpp_entry) == list(py_entry)  # the same keys, in the same order
        for key in ("input", "inputs", "row", "flow_shape"):
            assert cpp_entry[key] == py_entry[key]
        np.testing.assert_allclose(cpp_entry["mean_flow"], py_entry["mean_flow"], rtol=tol, atol=tol)
        assert cpp_entry["mean_magnitude"] == pytest.approx(py_entry["mean_magnitude"], rel=tol)
        assert {k: v for k, v in cpp_entry["flow"].items() if k != "dat"} == {
            k: v for k, v in py_entry["flow"].items() if k != "dat"
        }
        cpp_flow = load_tensor_output(cpp_out, cpp_entry["flow"])
        py_flow = load_tensor_output(python_record, py_entry["flow"])
        torch.testing.assert_close(cpp_flow, py_flow, rtol=tol, atol=tol)
        cpp_sidecar = json.loads((cpp_out.parent / cpp_entry["flow"]["dat"]).with_suffix(".json").read_text())
        py_sidecar = json.loads((python_record.parent / py_entry["flow"]["dat"]).with_suffix(".json").read_text())
        assert cpp_sidecar == py_sidecar


def test_infer_writes_what_python_predict_writes(cpp_binaries, toy_flow, tmp_path):
    model_path, scripted = toy_flow["deployed"]
    inputs = write_pair(tmp_path, "one", 10) + write_pair(tmp_path, "two", 20, batch=2)
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, model_path, out, *inputs)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    # Named as tvdeploy.predict.outputs names them: <record stem>.<entry index>.flow.dat
    assert [r["flow"]["dat"] for r in results] == [f"out.{i}.flow.dat" for i in range(3)]
    python_record = tmp_path / "python.json"
    python_results = store_tensor_outputs(
        predict(scripted, [str(p) for p in inputs], {}, torch.device("cpu")), python_record
    )
    assert_same_as_python(out, results, python_record, python_results, 3)


def test_infer_takes_the_last_flow_of_an_undeployed_list(cpp_binaries, toy_flow, tmp_path):
    inputs = write_pair(tmp_path, "one", 10)
    outs = [tmp_path / "list.json", tmp_path / "wrapped.json"]
    for model, out in zip((toy_flow["list"], toy_flow["deployed"][0]), outs, strict=True):
        proc = infer(cpp_binaries, model, out, *inputs)
        assert proc.returncode == 0, proc.stderr
    (a,), (b,) = (json.loads(out.read_text())["results"] for out in outs)
    assert a["mean_flow"] == b["mean_flow"]
    assert torch.equal(load_tensor_output(outs[0], a["flow"]), load_tensor_output(outs[1], b["flow"]))


def test_infer_refuses_a_pair_out_of_order_or_incomplete(cpp_binaries, toy_flow, tmp_path):
    first, second = write_pair(tmp_path, "one", 10)
    other = write_pair(tmp_path, "two", 20)
    out = tmp_path / "out.json"
    for inputs, message in (
        ((second, first), f"input file '{second}' is not argument 'image1'"),
        ((first, other[1]), f"input file '{other[1]}' is not argument 'image2' of 'one'"),
        ((first,), "takes 2 inputs per model call, got 1 input files"),
    ):
        proc = infer(cpp_binaries, toy_flow["deployed"][0], out, *inputs)
        assert proc.returncode == EXIT_USAGE and message in proc.stderr, proc.stderr
        assert not out.exists() and not list(tmp_path.glob("out.*.flow.*"))


def bench(cpp_binaries, model, out, *inputs):
    flags = [arg for dat in inputs for arg in ("--input", dat)]
    return run(cpp_binaries["bench"], "--model", model, *flags, "--task", OPTICAL_FLOW, "--device", "cpu",
               "--threads", 1, "--batch-size", 2, "--warmup-iters", 1, "--min-iters", 1, "--max-iters", 1,
               "--output", out)  # fmt: skip


def test_bench_takes_one_input_per_image(cpp_binaries, toy_flow, tmp_path):
    inputs = write_pair(tmp_path, "one", 10)
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, toy_flow["deployed"][0], out, *inputs)
    assert proc.returncode == 0, proc.stderr
    proc = bench(cpp_binaries, toy_flow["deployed"][0], tmp_path / "one.json", inputs[0])
    assert proc.returncode == EXIT_USAGE and "takes 2 --input per model call, got 1" in proc.stderr


def test_infer_on_scripted_raft_small_matches_python_predict(cpp_binaries, tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    net = raft_small(weights=None).eval()
    inputs = write_pair(tmp_path, "pan", 30, hw=(128, 128))
    example = tuple(torch.from_numpy(random_image(s, shape=(1, 3, 128, 128))) for s in (30, 31))
    with torch.inference_mode():
        wrapped, kind = deployable(net, net(*example))
    assert kind == "list[-1] of 12 flows"
    model_path = tmp_path / "raft_small.pt"
    scripted = save_scripted(wrapped, model_path)
    out = tmp_path / "raft_small.json"
    proc = infer(cpp_binaries, model_path, out, *inputs)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    python_record = tmp_path / "python.json"
    python_results = store_tensor_outputs(
        predict(scripted, [str(p) for p in inputs], {}, torch.device("cpu")), python_record
    )
    assert_same_as_python(out, results, python_record, python_results, 1, tol=1e-4)
    assert results[0]["mean_magnitude"] > 0
