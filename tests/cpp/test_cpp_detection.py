"""The C++ infer program with --task detection: a random-weight torchvision detector (score
threshold 0, so it returns boxes) deployed as one image in, its detections out, loads with
torchvision's operators and writes what the Python adapter's predict writes; toy detectors cover
the masks and keypoints layouts and the output contract."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, infer_args, run, save_scripted, write_input
from torch import nn
from toy_models import ToyMaskDetector

from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.records import artifact_file
from tvdeploy.predict.outputs import resolve_tensor_outputs, store_tensor_outputs
from tvdeploy.registry import TASKS
from tvdeploy.registry.tasks import DETECTION
from tvdeploy.tasks import detection

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]

LAYOUT = TASKS[DETECTION].input_layout
RTOL, ATOL = 1e-4, 1e-9
NUM_LABELS = 5


class ToyKeypointDetector(nn.Module):
    """Two detections with 17 keypoints each that follow the image."""

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0]]) + image.mean()
        keypoints = torch.stack([image[0, :17, :3], image[1, :17, :3]])
        return [boxes, torch.tensor([1, 1]), image[2, 0, :2], keypoints, image[0, :2, :17]]


class NotDetections(nn.Module):
    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [image.flatten()[:4], image.flatten()[:3]]


def labels_file(tmp_path, count=NUM_LABELS):
    path = tmp_path / "labels.txt"
    path.write_text("".join(["__background__\n", *(f"category {i}\n" for i in range(1, count))]))
    return path


def image_dat(tmp_path, shape=(3, 20, 24), seed=0):
    image = np.random.default_rng(seed).random(shape, dtype=np.float32)
    return write_input(tmp_path / "image.dat", image, layout=LAYOUT)


def python_and_cpp(cpp_binaries, scripted, model_path, labels, dat, tmp_path):
    python_out = tmp_path / "python.json"
    context = detection.decoding_context(labels)
    results = detection.predict(scripted, [dat], context, torch.device("cpu"))
    python_out.write_text(json.dumps({"results": store_tensor_outputs(results, python_out)}))
    out = tmp_path / "cpp.json"
    proc = run(cpp_binaries["infer"], "--task", "detection", *infer_args(model_path, labels, out, dat))
    assert proc.returncode == 0, proc.stderr
    return (
        resolve_tensor_outputs(json.loads(python_out.read_text()), python_out),
        resolve_tensor_outputs(json.loads(out.read_text()), out),
        json.loads(out.read_text()),
    )


def test_a_random_weight_detector_runs_in_cpp_as_in_python(cpp_binaries, tmp_path):
    from torchvision.models import get_model_builder

    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    net = get_model_builder(model)(weights=None, weights_backbone=None, **detection.random_weights_kwargs(model))
    model_path = tmp_path / "detector.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = save_scripted(detection.wrap_model(net.eval()), model_path)
    labels = labels_file(tmp_path, count=91)
    dat = image_dat(tmp_path, shape=(3, 240, 320))
    python, cpp, report = python_and_cpp(cpp_binaries, scripted, model_path, labels, dat, tmp_path)
    assert report["torchvision_ops"]["library"].endswith("_C_stable.so")  # auto: the task needs them
    found = cpp["results"][0]["detections"]
    assert len(found) == len(python["results"][0]["detections"]) > 0
    assert found[0].keys() == python["results"][0]["detections"][0].keys()
    (row,) = detection.compare_predictions(python, cpp, RTOL, ATOL, identity={})
    # With the builder's random weights this detector's backbone activations vanish (~1e-8), so it
    # scores every box alike and which boxes it keeps is arbitrary: the check says it cannot tell.
    assert not row["discriminates"], row


def test_masks_are_written_beside_the_record_like_pythons(cpp_binaries, tmp_path):
    model_path = tmp_path / "masks.pt"
    scripted = save_scripted(ToyMaskDetector(), model_path)
    python, cpp, report = python_and_cpp(
        cpp_binaries, scripted, model_path, labels_file(tmp_path), image_dat(tmp_path), tmp_path
    )
    assert report["results"][0]["masks"] == {"dat": "cpp.0.masks.dat", "shape": [3, 20, 24], "layout": "KHW"}
    assert torch.equal(cpp["results"][0]["masks"], python["results"][0]["masks"])
    assert [d["category"] for d in cpp["results"][0]["detections"]] == ["category 1", "category 2", "category 4"]
    (row,) = detection.compare_predictions(python, cpp, RTOL, ATOL, identity={})
    assert row["min_mask_iou"] == 1.0 and row["within_tolerance"]


def test_an_openvino_ir_of_a_detector_returns_its_integer_labels_in_cpp(cpp_binaries, tmp_path):
    """A detector's IR returns its labels as i64 beside float32 boxes and scores: the C++ OpenVINO
    model reads each output as its own element type (it read every one as float32 and failed on
    every detector)."""
    net = ToyMaskDetector()
    # What wrap_model gives every deployed detector: its fields, which the exporters read.
    net.fields = list(detection.MASK_FIELDS)
    dat = image_dat(tmp_path)
    folder = tmp_path / "ir"
    record = build_artifact("openvino", net, (torch.rand(3, 20, 24),), folder, detection)
    assert record["status"] == "ok", record
    labels = labels_file(tmp_path)
    python, cpp, _ = python_and_cpp(cpp_binaries, net, artifact_file(folder), labels, dat, tmp_path)
    assert [d["category"] for d in cpp["results"][0]["detections"]] == ["category 1", "category 2", "category 4"]
    (row,) = detection.compare_predictions(python, cpp, RTOL, ATOL, identity={})
    assert row["matched_fraction"] == 1.0 and row["within_tolerance"], row


def test_keypoints_are_written_like_pythons(cpp_binaries, tmp_path):
    model_path = tmp_path / "keypoints.pt"
    scripted = save_scripted(ToyKeypointDetector(), model_path)
    python, cpp, _ = python_and_cpp(
        cpp_binaries, scripted, model_path, labels_file(tmp_path), image_dat(tmp_path), tmp_path
    )
    for ours, theirs in zip(cpp["results"][0]["detections"], python["results"][0]["detections"], strict=True):
        np.testing.assert_allclose(ours["keypoints"], theirs["keypoints"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(ours["keypoints_scores"], theirs["keypoints_scores"], rtol=0, atol=1e-6)
    (row,) = detection.compare_predictions(python, cpp, RTOL, ATOL, identity={})
    assert row["keypoints_within_px"] == 1.0 and row["within_tolerance"]


def test_output_that_is_not_detections_is_refused(cpp_binaries, tmp_path):
    model_path = tmp_path / "wrong.pt"
    save_scripted(NotDetections(), model_path)
    out = tmp_path / "out.json"
    labels = labels_file(tmp_path)
    proc = run(cpp_binaries["infer"], "--task", "detection", *infer_args(model_path, labels, out, image_dat(tmp_path)))
    assert proc.returncode == EXIT_RUNTIME
    assert "returned 2 tensors, expected a list of detection fields" in proc.stderr
    assert not out.exists()


def test_a_label_beyond_the_category_names_is_refused(cpp_binaries, tmp_path):
    model_path = tmp_path / "masks.pt"
    save_scripted(ToyMaskDetector(), model_path)
    out = tmp_path / "out.json"
    labels = labels_file(tmp_path, count=3)
    proc = run(cpp_binaries["infer"], "--task", "detection", *infer_args(model_path, labels, out, image_dat(tmp_path)))
    assert proc.returncode == EXIT_RUNTIME
    assert "returned label 4" in proc.stderr and "has 3 category names" in proc.stderr
    assert not out.exists()
