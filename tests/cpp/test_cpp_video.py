"""Tests of the C++ programs' video task: infer --task video reads rank-5 NCTHW clips and writes
what the Python adapter's predict writes (classification's record: logits and top-k per row),
bench --task video repeats a clip to a batch, and outputs off the [N, C] contract are refused.

The session fixture cpp_binaries (conftest.py) compiles both programs, so every test here is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, random_image, run, save_scripted, write_input
from toy_models import CLIP_SHAPE, NUM_CLASSES, video_classifier

from tvdeploy.registry.tasks import TASKS, VIDEO_CLASSIFICATION
from tvdeploy.tasks.video import predict

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]

LAYOUT = TASKS[VIDEO_CLASSIFICATION].input_layout  # NCTHW


class PerFrameLogits(torch.nn.Module):
    """Returns [N, C, T] (logits per frame): not the task's [N, C] contract."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(3, 4))


@pytest.fixture(scope="module")
def deployed_video_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "video.pt"
    return path, save_scripted(video_classifier(seed=0), path)


@pytest.fixture(scope="module")
def kinetics_labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_text("".join(f"action {i}\n" for i in range(NUM_CLASSES)), encoding="utf-8")
    return path


def clip_inputs(tmp_path):
    """One clip and a batch of two, CLIP_SHAPE's frames."""
    clips = [random_image(1, shape=CLIP_SHAPE), random_image(2, shape=(2, *CLIP_SHAPE[1:]))]
    return [write_input(tmp_path / f"clip{i}.dat", clip, layout=LAYOUT) for i, clip in enumerate(clips)]


def infer(cpp_binaries, model_path, labels, out, *inputs, task=VIDEO_CLASSIFICATION):
    return run(
        cpp_binaries["infer"],
        "--model",
        model_path,
        "--task",
        task,
        "--labels",
        labels,
        "--topk",
        3,
        "--device",
        "cpu",
        "--threads",
        1,
        "--output",
        out,
        *inputs,
    )


def test_infer_writes_what_python_predict_writes(cpp_binaries, deployed_video_model, kinetics_labels, tmp_path):
    model_path, scripted = deployed_video_model
    inputs = clip_inputs(tmp_path)
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, model_path, kinetics_labels, out, *inputs)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    context = {"labels": kinetics_labels.read_text(encoding="utf-8").splitlines(), "topk": 3}
    python = predict(scripted, [str(p) for p in inputs], context, torch.device("cpu"))
    assert len(results) == len(python) == 3
    for cpp_entry, py_entry in zip(results, python, strict=True):
        assert cpp_entry["input"] == py_entry["input"] and cpp_entry.get("row", 0) == py_entry["row"]
        assert len(cpp_entry["logits"]) == NUM_CLASSES
        np.testing.assert_allclose(cpp_entry["logits"], py_entry["logits"], rtol=1e-5, atol=1e-6)
        assert [t["class_index"] for t in cpp_entry["topk"]] == [t["class_index"] for t in py_entry["topk"]]
        assert [t["label"] for t in cpp_entry["topk"]] == [t["label"] for t in py_entry["topk"]]
    # The rows differ (the clips do): the comparison above could fail.
    assert results[1]["logits"] != results[2]["logits"]


def test_infer_refuses_output_off_the_logits_contract(cpp_binaries, kinetics_labels, tmp_path):
    model_path = tmp_path / "per_frame.pt"
    save_scripted(PerFrameLogits(), model_path)
    out = tmp_path / "out.json"
    proc = infer(cpp_binaries, model_path, kinetics_labels, out, *clip_inputs(tmp_path)[:1])
    assert proc.returncode == EXIT_RUNTIME
    assert f"returned a tensor of shape [1, 3, {CLIP_SHAPE[2]}], expected [1, C]" in proc.stderr
    assert not out.exists()


def test_infer_video_needs_labels(cpp_binaries, deployed_video_model, tmp_path):
    out = tmp_path / "out.json"
    inputs = clip_inputs(tmp_path)[:1]
    proc = run(
        cpp_binaries["infer"], "--model", deployed_video_model[0], "--task", VIDEO_CLASSIFICATION, "--output", out,
        *inputs,
    )  # fmt: skip
    assert proc.returncode == EXIT_USAGE and "missing required option --labels" in proc.stderr


def test_bench_repeats_a_clip_to_the_batch(cpp_binaries, deployed_video_model, tmp_path):
    dat = write_input(tmp_path / "clip.dat", random_image(3, shape=CLIP_SHAPE), layout=LAYOUT)
    per_frame = tmp_path / "per_frame.pt"
    save_scripted(PerFrameLogits(), per_frame)
    for model, expected_rc in ((deployed_video_model[0], 0), (per_frame, EXIT_RUNTIME)):
        out = tmp_path / f"{model.stem}.json"
        proc = run(
            cpp_binaries["bench"], "--model", model, "--input", dat, "--task", VIDEO_CLASSIFICATION,
            "--device", "cpu", "--threads", 1, "--batch-size", 2, "--warmup-iters", 1, "--min-iters", 1,
            "--max-iters", 1, "--output", out,
        )  # fmt: skip
        assert proc.returncode == expected_rc, proc.stderr
        assert out.exists() == (expected_rc == 0)
    assert "expected [2, C]" in proc.stderr
