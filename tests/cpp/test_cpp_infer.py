"""Tests of the C++ infer program: results against Python, input and model checks, usage errors.

The session fixture cpp_binaries (conftest.py) compiles both programs once (a minute or more on 2 cores),
so every test here is slow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from cpp_helpers import (
    ATOL,
    EXIT_RUNTIME,
    EXIT_USAGE,
    FLOAT_BYTES,
    edit_sidecar,
    infer_args,
    random_image,
    run,
    save_scripted,
    write_input,
)
from toy_models import IMAGE_SHAPE, NUM_CLASSES, ClipClassifier, FlatModel, SequenceClassifier, TupleModel

from tvdeploy.build.load import apply_load_transform

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]


def expected_for(scripted, image: np.ndarray, k: int):
    with torch.inference_mode():
        logits = scripted(torch.from_numpy(image)).float()
    probs = torch.softmax(logits, dim=1)
    top_p, top_i = probs.topk(k, dim=1)
    return logits, top_p, top_i


def test_infer_matches_python(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, scripted = toy_model
    inputs = [write_input(tmp_path / f"img{i}.dat", random_image(i)) for i in range(3)]
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, *inputs))
    assert proc.returncode == 0, proc.stderr

    report = json.loads(out.read_text())
    assert report["program"] == "infer"
    assert report["model"] == str(model_path)
    assert report["device"] == "cpu"
    assert report["threads"] == 1
    assert report["torch_version"] == torch.__version__.split("+")[0]
    assert [r["input"] for r in report["results"]] == [str(p) for p in inputs]
    label_lines = toy_labels.read_text(encoding="utf-8").splitlines()
    for i, result in enumerate(report["results"]):
        logits, top_p, top_i = expected_for(scripted, random_image(i), 5)
        assert "row" not in result
        np.testing.assert_allclose(result["logits"], logits[0].numpy(), atol=ATOL, rtol=0)
        assert [t["rank"] for t in result["topk"]] == [1, 2, 3, 4, 5]
        assert [t["class_index"] for t in result["topk"]] == top_i[0].tolist()
        assert [t["label"] for t in result["topk"]] == [label_lines[j] for j in top_i[0].tolist()]
        np.testing.assert_allclose([t["probability"] for t in result["topk"]], top_p[0].numpy(), atol=ATOL, rtol=0)
    assert list(tmp_path.glob("out.json.tmp*")) == []


def test_infer_batch_emits_one_entry_per_row(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, scripted = toy_model
    image = random_image(7, shape=(2, 3, 16, 16))
    dat = write_input(tmp_path / "batch.dat", image)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat, extra=["--topk", NUM_CLASSES]))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    logits, top_p, top_i = expected_for(scripted, image, NUM_CLASSES)
    assert [r["row"] for r in results] == [0, 1]
    for row, result in enumerate(results):
        np.testing.assert_allclose(result["logits"], logits[row].numpy(), atol=ATOL, rtol=0)
        assert [t["class_index"] for t in result["topk"]] == top_i[row].tolist()
        assert math.isclose(sum(t["probability"] for t in result["topk"]), 1.0, abs_tol=ATOL)


@pytest.mark.parametrize("delta_floats", [-1, 1])
def test_infer_refuses_wrong_file_size(cpp_binaries, toy_model, toy_labels, tmp_path, delta_floats):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "bad.dat", random_image(1))
    data = dat.read_bytes()
    data = data[:-FLOAT_BYTES] if delta_floats < 0 else data + b"\0" * FLOAT_BYTES
    dat.write_bytes(data)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    expected = math.prod(IMAGE_SHAPE) * FLOAT_BYTES
    assert "size" in proc.stderr
    assert str(len(data)) in proc.stderr and str(expected) in proc.stderr
    assert str(dat) in proc.stderr
    assert not out.exists()


def test_infer_missing_sidecar(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "nosidecar.dat", random_image(1))
    dat.with_suffix(".json").unlink()
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert proc.stderr.startswith("error: ")
    assert str(dat.with_suffix(".json")) in proc.stderr
    assert not out.exists()


def test_infer_malformed_sidecar(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "broken.dat", random_image(1))
    dat.with_suffix(".json").write_text('{"shape": [1, 3, 16')
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "malformed JSON" in proc.stderr and str(dat.with_suffix(".json")) in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"dtype": "float16"}, "dtype"),
        ({"shape": [3, 16, 16]}, "shape"),
        ({"shape": [1, 3, 0, 16]}, "shape"),
        ({"byte_order": "big"}, "byte_order"),
    ],
)
def test_infer_rejects_bad_sidecar_fields(cpp_binaries, toy_model, toy_labels, tmp_path, override, needle):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "odd.dat", random_image(1), **override)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert needle in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "edit, needle",
    [
        ({"layout": "NCTHW"}, '"layout" "NCTHW" names 5'),  # 4 sizes, 5 axis letters
        ({"layout": "NCHH"}, "one capital letter per axis, each once"),
        ({"layout": "nchw"}, "one capital letter per axis"),
        ({"layout": ""}, "one capital letter per axis"),
        ({"layout": 4}, "one capital letter per axis"),
        ({"drop": ("layout",)}, 'lacks "layout"'),
    ],
    ids=["rank-mismatch", "repeated-axis", "lower-case", "empty", "not-a-string", "missing"],
)
def test_infer_rejects_a_layout_that_does_not_name_the_axes(
    cpp_binaries, toy_model, toy_labels, tmp_path, edit, needle
):
    model_path, _ = toy_model
    dat = edit_sidecar(write_input(tmp_path / "odd.dat", random_image(1)), **edit)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert needle in proc.stderr and str(dat.with_suffix(".json")) in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "module, layout, shape",
    [(ClipClassifier, "NCTHW", (2, 3, 4, 8, 8)), (SequenceClassifier, "NCL", (3, 3, 7))],
    ids=["rank-5", "rank-3"],
)
def test_infer_reads_inputs_of_any_rank_by_their_layout(cpp_binaries, toy_labels, tmp_path, module, layout, shape):
    # The loader takes the rank from the sidecar's layout, and the batch from its N axis.
    torch.manual_seed(5)
    model_path = tmp_path / "model.pt"
    scripted = save_scripted(module(), model_path)
    image = random_image(4, shape=shape)
    dat = write_input(tmp_path / "x.dat", image, layout=layout)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat, extra=["--task", "classification"]))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    logits, _, top_i = expected_for(scripted, image, 5)
    assert [r["row"] for r in results] == list(range(shape[0]))
    for row, result in enumerate(results):
        np.testing.assert_allclose(result["logits"], logits[row].numpy(), atol=ATOL, rtol=0)
        assert [t["class_index"] for t in result["topk"]] == top_i[row].tolist()


def test_infer_output_does_not_depend_on_naming_the_task(cpp_binaries, toy_model, toy_labels, tmp_path):
    # --task classification is the default; naming it changes nothing in what infer writes.
    model_path, _ = toy_model
    inputs = [
        write_input(tmp_path / "a.dat", random_image(1)),
        write_input(tmp_path / "b.dat", random_image(2, (2, 3, 16, 16))),
    ]
    written = []
    for extra in ((), ("--task", "classification")):
        out = tmp_path / f"out{len(written)}.json"
        proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, *inputs, extra=extra))
        assert proc.returncode == 0, proc.stderr
        written.append(out.read_bytes())
    assert written[0] == written[1]


def test_cpp_harness_passes_the_task_to_infer(cpp_binaries, toy_model, toy_labels, tmp_path):
    from tvdeploy.harnesses import harness

    model_path, scripted = toy_model
    dats = [str(write_input(tmp_path / "img.dat", random_image(3)))]
    out = tmp_path / "out.json"
    infer = harness("ts-cpp").infer
    infer(cpp_binaries["infer"], model_path, toy_labels, dats, "cpu", "plain", 3, 1, out, task_name="classification")
    (result,) = json.loads(out.read_text())["results"]
    logits, _, top_i = expected_for(scripted, random_image(3), 3)
    np.testing.assert_allclose(result["logits"], logits[0].numpy(), atol=ATOL, rtol=0)
    assert [t["class_index"] for t in result["topk"]] == top_i[0].tolist()
    with pytest.raises(ValueError, match="unknown task 'no_such_task'"):
        infer(
            cpp_binaries["infer"],
            model_path,
            toy_labels,
            dats,
            "cpu",
            "plain",
            3,
            1,
            tmp_path / "no.json",
            task_name="no_such_task",
        )
    assert not (tmp_path / "no.json").exists()


def test_infer_wrong_label_count(cpp_binaries, toy_model, tmp_path):
    model_path, _ = toy_model
    short_labels = tmp_path / "labels.txt"
    short_labels.write_text("".join(f"c{i}\n" for i in range(NUM_CLASSES - 1)))
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, short_labels, out, dat, extra=["--topk", 3]))
    assert proc.returncode == EXIT_RUNTIME
    assert f"{NUM_CLASSES} classes" in proc.stderr and f"{NUM_CLASSES - 1} labels" in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_infer_cuda_without_gpu(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], "--model", model_path, "--labels", toy_labels, "--device", "cuda", "--output", out, dat
    )
    assert proc.returncode == EXIT_RUNTIME
    assert "device 'cuda' requested but no CUDA device is available" in proc.stderr
    assert not out.exists()


def test_infer_auto_device_falls_back_to_cpu(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], "--model", model_path, "--labels", toy_labels, "--device", "auto", "--output", out, dat
    )
    assert proc.returncode == 0, proc.stderr
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert json.loads(out.read_text())["device"] == expected


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a + ["--bogus", "1"],
        lambda a: a[:4] + a[6:],  # drops "--output OUT"
        lambda a: a[:-1],  # no input files
        lambda a: ["--topk", "0"] + a,
        lambda a: ["--topk", str(NUM_CLASSES + 1)] + a,
        lambda a: ["--topk", "five"] + a,
        lambda a: ["--device", "tpu"] + a,
        lambda a: a[:1],  # --model without a value
        lambda a: a[:2] + a[4:],  # drops "--labels L", which classification needs
        lambda a: ["--task", "no_such_task"] + a,
    ],
    ids=[
        "unknown-option",
        "missing-output",
        "no-inputs",
        "topk-0",
        "topk-too-big",
        "topk-not-int",
        "bad-device",
        "missing-value",
        "missing-labels",
        "unknown-task",
    ],
)
def test_infer_usage_errors(cpp_binaries, toy_model, toy_labels, tmp_path, mutate):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    base = ["--model", str(model_path), "--labels", str(toy_labels), "--output", str(out), str(dat)]
    proc = run(cpp_binaries["infer"], *mutate(base))
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "usage: infer" in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_infer_without_labels_says_they_are_required(cpp_binaries, toy_model, tmp_path):
    # No longer required by the parser (a task without labels may come) but by classification's writer,
    # in the parser's words.
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], "--model", toy_model[0], "--device", "cpu", "--output", out, dat)
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.startswith("error: missing required option --labels\n")
    assert not out.exists()


def test_infer_refuses_tuple_output(cpp_binaries, toy_labels, tmp_path):
    model_path = tmp_path / "tuple.pt"
    save_scripted(TupleModel(), model_path)
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "Tuple" in proc.stderr and "expected a single Tensor" in proc.stderr
    assert not out.exists()


def test_infer_refuses_non_2d_output(cpp_binaries, toy_labels, tmp_path):
    model_path = tmp_path / "flat.pt"
    save_scripted(FlatModel(), model_path)
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "[1, C]" in proc.stderr
    assert not out.exists()


def test_infer_reports_model_failure(cpp_binaries, toy_model, toy_labels, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "gray.dat", random_image(1, shape=(1, 1, 16, 16)))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert f"running model '{model_path}' on input '{dat}' failed" in proc.stderr
    assert "channels" in proc.stderr
    assert not out.exists()


def test_infer_missing_model(cpp_binaries, toy_labels, tmp_path):
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    missing = tmp_path / "nope.pt"
    proc = run(cpp_binaries["infer"], *infer_args(missing, toy_labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert str(missing) in proc.stderr
    assert not out.exists()


def test_infer_optimize_transform_matches_python(cpp_binaries, frozen_convbn, toy_labels, tmp_path):
    path, frozen = frozen_convbn
    image = random_image(11)
    dat = write_input(tmp_path / "x.dat", image)
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], *infer_args(path, toy_labels, out, dat, extra=("--transform", "optimize_for_inference"))
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["transform"] == "optimize_for_inference"
    optimized = apply_load_transform(torch.jit.load(str(path)), "optimize_for_inference")
    with torch.inference_mode():
        expected = optimized(torch.from_numpy(image)).squeeze(0)
    assert np.allclose(report["results"][0]["logits"], expected.numpy(), atol=ATOL)
