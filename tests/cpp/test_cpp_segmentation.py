"""Tests of the C++ programs' segmentation task: infer --task segmentation writes what the Python
adapter's predict writes (the same keys, class fractions and argmax masks, the masks as .dat files
beside the result file), bench --task segmentation runs it, and outputs off the contract are
refused with a clear error.

The session fixture cpp_binaries (conftest.py) compiles both programs, so every test here is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, random_image, run, save_scripted, write_input
from toy_models import SEGMENTATION_CLASSES, FlatModel, Segmenter

from tvdeploy.predict.outputs import load_tensor_output, store_tensor_outputs
from tvdeploy.registry.tasks import SEGMENTATION
from tvdeploy.tasks.segmentation import deployable, predict

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]

# Unequal sides, so that an H/W mix-up shows.
IMAGE_HW = (12, 20)


@pytest.fixture(scope="module")
def segmenter_net():
    return Segmenter(seed=0)


@pytest.fixture(scope="module")
def deployed_segmenter(segmenter_net, tmp_path_factory):
    """The toy segmenter as deployed: its 'out' alone, scripted (path, module)."""
    example = torch.from_numpy(random_image(0, shape=(1, 3, *IMAGE_HW)))
    with torch.inference_mode():
        wrapped, _ = deployable(segmenter_net, segmenter_net(example))
    path = tmp_path_factory.mktemp("segmenter") / "segmenter.pt"
    return path, save_scripted(wrapped, path)


@pytest.fixture(scope="module")
def voc_labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "voc.txt"
    path.write_text("".join(f"class {i}\n" for i in range(SEGMENTATION_CLASSES)), encoding="utf-8")
    return path


def infer(cpp_binaries, model_path, labels, out, *inputs):
    return run(
        cpp_binaries["infer"],
        "--model",
        model_path,
        "--task",
        SEGMENTATION,
        "--labels",
        labels,
        "--device",
        "cpu",
        "--threads",
        1,
        "--output",
        out,
        *inputs,
    )


def segmentation_inputs(tmp_path):
    """One image and a batch of two, both IMAGE_HW."""
    images = [random_image(1, shape=(1, 3, *IMAGE_HW)), random_image(2, shape=(2, 3, *IMAGE_HW))]
    return [write_input(tmp_path / f"img{i}.dat", image) for i, image in enumerate(images)]


def assert_same_as_python(cpp_out, results, python_record, python_results):
    assert len(results) == len(python_results) == 3
    for cpp_entry, py_entry in zip(results, python_results, strict=True):
        assert list(cpp_entry) == list(py_entry)  # the same keys, in the same order
        assert cpp_entry["input"] == py_entry["input"] and cpp_entry["row"] == py_entry["row"]
        assert cpp_entry["logits_shape"] == py_entry["logits_shape"] == [SEGMENTATION_CLASSES, *IMAGE_HW]
        np.testing.assert_allclose(cpp_entry["class_fractions"], py_entry["class_fractions"], rtol=0, atol=1e-12)
        assert {k: v for k, v in cpp_entry["mask"].items() if k != "dat"} == {
            "shape": list(IMAGE_HW),
            "layout": "HW",
        }
        cpp_mask = load_tensor_output(cpp_out, cpp_entry["mask"])
        py_mask = load_tensor_output(python_record, py_entry["mask"])
        assert torch.equal(cpp_mask, py_mask)
        assert len(torch.unique(py_mask)) > 1, "a one-class mask would not test the argmax"
        cpp_sidecar = json.loads((cpp_out.parent / cpp_entry["mask"]["dat"]).with_suffix(".json").read_text())
        py_sidecar = json.loads((python_record.parent / py_entry["mask"]["dat"]).with_suffix(".json").read_text())
        assert cpp_sidecar == py_sidecar


def test_infer_writes_what_python_predict_writes(cpp_binaries, deployed_segmenter, voc_labels, tmp_path):
    model_path, scripted = deployed_segmenter
    inputs = segmentation_inputs(tmp_path)
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, model_path, voc_labels, out, *inputs)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    # Named as tvdeploy.predict.outputs names them: <record stem>.<entry index>.mask.dat
    assert [r["mask"]["dat"] for r in results] == [f"out.{i}.mask.dat" for i in range(3)]

    python_record = tmp_path / "python.json"
    context = {"labels": voc_labels.read_text(encoding="utf-8").splitlines()}
    python_results = store_tensor_outputs(
        predict(scripted, [str(p) for p in inputs], context, torch.device("cpu")), python_record
    )
    assert_same_as_python(out, results, python_record, python_results)


def test_infer_takes_the_out_of_an_undeployed_dict(
    cpp_binaries, segmenter_net, deployed_segmenter, voc_labels, tmp_path
):
    # The scripted model itself (a dict with "out" and "aux") gives the deployed wrapper's results.
    dict_model = tmp_path / "dict.pt"
    save_scripted(segmenter_net, dict_model)
    inputs = segmentation_inputs(tmp_path)
    outs = [tmp_path / "dict.json", tmp_path / "wrapped.json"]
    for model, out in zip((dict_model, deployed_segmenter[0]), outs, strict=True):
        proc = infer(cpp_binaries, model, voc_labels, out, *inputs)
        assert proc.returncode == 0, proc.stderr
    dict_results, wrapped_results = (json.loads(out.read_text())["results"] for out in outs)
    for a, b in zip(dict_results, wrapped_results, strict=True):
        assert a["class_fractions"] == b["class_fractions"]
        assert torch.equal(load_tensor_output(outs[0], a["mask"]), load_tensor_output(outs[1], b["mask"]))


def test_infer_refuses_output_of_the_wrong_rank(cpp_binaries, voc_labels, tmp_path):
    model_path = tmp_path / "flat.pt"
    save_scripted(FlatModel(), model_path)
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, model_path, voc_labels, out, *segmentation_inputs(tmp_path)[:1])
    assert proc.returncode == EXIT_RUNTIME
    assert "returned a tensor of shape [720], expected [1, C, H, W]" in proc.stderr
    assert not out.exists() and not list(tmp_path.glob("out.*.mask.*"))


def test_infer_refuses_a_class_count_off_the_labels(cpp_binaries, deployed_segmenter, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("background\nperson\n", encoding="utf-8")
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, deployed_segmenter[0], labels, out, *segmentation_inputs(tmp_path)[:1])
    assert proc.returncode == EXIT_RUNTIME
    assert f"outputs {SEGMENTATION_CLASSES} classes but '{labels}' has 2 labels" in proc.stderr
    assert not out.exists()


def test_infer_segmentation_needs_labels(cpp_binaries, deployed_segmenter, tmp_path):
    out = tmp_path / "out.json"
    inputs = segmentation_inputs(tmp_path)[:1]
    proc = run(
        cpp_binaries["infer"], "--model", deployed_segmenter[0], "--task", SEGMENTATION, "--output", out, *inputs
    )
    assert proc.returncode == EXIT_USAGE and "missing required option --labels" in proc.stderr


def test_bench_runs_segmentation_and_refuses_the_wrong_rank(cpp_binaries, deployed_segmenter, tmp_path):
    dat = write_input(tmp_path / "img.dat", random_image(3, shape=(1, 3, *IMAGE_HW)))
    flat = tmp_path / "flat.pt"
    save_scripted(FlatModel(), flat)
    for model, expected_rc in ((deployed_segmenter[0], 0), (flat, EXIT_RUNTIME)):
        out = tmp_path / f"{model.stem}.json"
        proc = run(
            cpp_binaries["bench"],
            "--model",
            model,
            "--input",
            dat,
            "--task",
            SEGMENTATION,
            "--device",
            "cpu",
            "--threads",
            1,
            "--batch-size",
            2,
            "--warmup-iters",
            1,
            "--min-iters",
            1,
            "--max-iters",
            1,
            "--output",
            out,
        )
        assert proc.returncode == expected_rc, proc.stderr
        assert out.exists() == (expected_rc == 0)
    assert "expected [2, C, H, W]" in proc.stderr
