"""Random weights of the torchvision detectors: exactly the keys of the published files (the trained
architecture's frozen batch norms), detections whose scores discriminate and that two thread
counts reproduce, and the random-weights score threshold reaching every build from the file."""

from __future__ import annotations

import os

import pytest
import torch
from conftest import EVERY_MODEL_ENV

from tvdeploy.catalog.models import build_model, default_weights, trained_state_keys
from tvdeploy.catalog.weights import write_random
from tvdeploy.files import read_json, write_json_atomic
from tvdeploy.tasks import detection, detection_matching

RTOL, ATOL = 1e-4, 1e-9
# The detectors whose random weights cost seconds, not tens of seconds (their calibration runs the
# backbone at 320 pixels, the others' at 800).
LIGHT = "fasterrcnn_mobilenet_v3_large_320_fpn"
DETECTORS = (
    LIGHT,
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "keypointrcnn_resnet50_fpn",
)
# What the suite tests by default (EVERY_MODEL_ENV=1: all twelve): the light one, and one of each
# other kind of output or architecture the others share (SSD's VGG without batch norms, SSDlite's
# unfrozen ones, FCOS's zero-area boxes, masks, keypoints). Each resnet50 detector's random weights
# take 30-60 s to calibrate on two cores.
SAMPLE = (
    LIGHT,
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
    "fcos_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
    "keypointrcnn_resnet50_fpn",
)
TESTED = DETECTORS if os.environ.get(EVERY_MODEL_ENV) == "1" else SAMPLE
_FILES: dict[str, object] = {}


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """The seeded random weights file of a detector, beside it its provenance (as download_weights
    writes them), made once per module."""

    def make(model: str):
        if model not in _FILES:
            folder = tmp_path_factory.mktemp(model)
            path = folder / f"{model}.pth"
            write_json_atomic(path.with_suffix(".json"), write_random(model, path, seed=0))
            _FILES[model] = path
        return _FILES[model]

    return make


def _slow_unless_light(models):
    return [m if m == LIGHT else pytest.param(m, marks=pytest.mark.slow) for m in models]


@pytest.mark.parametrize("model", _slow_unless_light(TESTED))
def test_random_detector_weights_have_the_published_keys_and_load_strictly(model, random_weights):
    path = random_weights(model)
    state = torch.load(path, weights_only=True)
    assert list(state) == trained_state_keys(model, default_weights(model))
    # The v1 builders freeze their batch norms for trained weights (no num_batches_tracked); the v2
    # ones and SSDlite do not; SSD300's VGG has none.
    counted = model.endswith("_v2") or model.startswith("ssdlite")
    assert any(k.endswith("num_batches_tracked") for k in state) == counted
    net = build_model(model, path)  # strict load through torchvision's builder for DEFAULT
    assert isinstance(net, detection.OneImageDetections) and not net.training


def _detections(net, image, threads: int) -> detection.Detections:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            return detection.output_tensor(net(image))
    finally:
        torch.set_num_threads(previous)


class _Shape:
    """A catalog row's example shape for a detector ([1, C, H, W]: the task's example size)."""

    input_shape = (1, 3, *detection.TASK.example_size)


def test_the_random_weights_score_threshold_reaches_every_build_from_the_file(random_weights):
    path = random_weights(LIGHT)
    provenance = read_json(path.with_suffix(".json"))
    assert provenance["source"] == "random"
    assert provenance["build_kwargs"] == {"box_score_thresh": detection.RANDOM_WEIGHTS_SCORE_THRESHOLD}
    # From the provenance beside the file, or handed in.
    assert build_model(LIGHT, path).model.roi_heads.score_thresh == detection.RANDOM_WEIGHTS_SCORE_THRESHOLD
    assert build_model(LIGHT, path, provenance).model.roi_heads.score_thresh == 0.0
    # The same file as real weights (a user's file) keeps the builder's default threshold.
    default = build_model(LIGHT, path, {"source": "file"}).model.roi_heads.score_thresh
    assert default == 0.05
    image = detection.example_inputs(_Shape(), 1, seed=1)[0]
    assert _detections(build_model(LIGHT, path, {"source": "file"}), image, 1).count == 0


@pytest.mark.parametrize("model", _slow_unless_light(TESTED))
def test_random_detector_scores_discriminate_and_two_thread_counts_agree(model, random_weights):
    net = build_model(model, random_weights(model))
    image = detection.example_inputs(_Shape(), 1, seed=1)[0]
    one, two = _detections(net, image, 1), _detections(net, image, 2)
    assert one.count > 1 and not detection.scores_tied(one)
    assert one.scores.unique().numel() >= detection_matching.MIN_MATCHED_FRACTION * one.count
    comparison = detection.compare_outputs(one, two, RTOL, ATOL)
    assert comparison["discriminates"] and comparison["within_tolerance"], comparison
    assert comparison["matched_fraction"] >= detection_matching.MIN_MATCHED_FRACTION


@pytest.mark.slow
def test_a_random_detector_exports_to_torchscript_through_the_house_exporter(random_weights, tmp_path):
    from tvdeploy.build.load import load_torchscript
    from tvdeploy.build.torchscript import script_deployable

    net = build_model(LIGHT, random_weights(LIGHT))
    example = detection.example_inputs(_Shape(), 1, seed=0)
    assert example[0].dim() == 3  # CHW: one image, no batch axis (the task's input_layout)
    scripted, kind = script_deployable(net, example, detection)
    assert kind == "list[boxes, labels, scores] of one image"
    scripted.save(str(tmp_path / "detector.pt"))
    loaded = load_torchscript(tmp_path / "detector.pt", torch.device("cpu"))
    with torch.inference_mode():
        reference = detection.output_tensor(net(*example))
        output = loaded(*example)
    # The detections, not the (losses, detections) pair a scripted torchvision detector returns.
    assert isinstance(output, list) and [t.dim() for t in output] == [2, 1, 1]
    comparison = detection.compare_outputs(reference, detection.output_tensor(output), RTOL, ATOL)
    assert comparison["discriminates"] and comparison["within_tolerance"], comparison


def test_the_trace_check_of_an_input_without_a_batch_axis_varies_its_height_and_width():
    from tvdeploy.build.torchscript import OTHER_SIZE_STEP, other_shape
    from tvdeploy.tasks import classification

    assert other_shape(torch.Size([3, 480, 640]), detection) == (3, 480 + OTHER_SIZE_STEP, 640 + OTHER_SIZE_STEP)
    assert other_shape(torch.Size([1, 3, 224, 224]), classification) == (2, 3, 224, 224)
