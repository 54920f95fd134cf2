"""The detection adapter: matching-based parity against hand-made detections (a shifted box, a
swapped order, a missing detection, another label, flipped mask pixels, moved keypoints), empty
outputs never passing, the prediction record round trip, preprocessing against the weights'
preset, and a real random-weight detector scripted with its score threshold at 0."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from conftest import REPO_ROOT

from tvdeploy.predict.outputs import resolve_tensor_outputs, store_tensor_outputs
from tvdeploy.tasks import detection
from tvdeploy.tasks.detection import Detections

RTOL, ATOL = 1e-4, 1e-9


def boxes_of(*boxes, labels=None, scores=None, **extra) -> Detections:
    count = len(boxes)
    return Detections(
        torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        torch.tensor(labels if labels is not None else [1] * count),
        torch.tensor(scores if scores is not None else [0.9 - 0.1 * i for i in range(count)]),
        **extra,
    )


REFERENCE = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])


def test_identical_detections_agree():
    comparison = detection.compare_outputs(REFERENCE, REFERENCE, RTOL, ATOL)
    assert comparison["matched"] == 3 and comparison["min_matched_iou"] == 1.0
    assert comparison["discriminates"] and comparison["within_tolerance"]


def test_a_swapped_order_is_matched_by_position_free_assignment():
    swapped = boxes_of([50, 0, 60, 30], [0, 0, 10, 10], [20, 20, 40, 40], labels=[1, 1, 2], scores=[0.7, 0.9, 0.8])
    comparison = detection.compare_outputs(REFERENCE, swapped, RTOL, ATOL)
    assert comparison["matched"] == 3 and comparison["max_score_diff"] == pytest.approx(0.0, abs=1e-6)
    assert comparison["within_tolerance"]


def test_a_shifted_box_gives_its_iou_and_fails():
    # [0, 0, 10, 10] moved 1 px right: intersection 9 x 10 = 90, union 110.
    shifted = boxes_of([1, 0, 11, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])
    comparison = detection.compare_outputs(REFERENCE, shifted, RTOL, ATOL)
    assert comparison["matched"] == 3
    assert comparison["min_matched_iou"] == pytest.approx(90 / 110)
    assert not comparison["within_tolerance"]
    assert "smallest matched IoU 0.8182" in detection.parity_message("x", comparison)


def test_identical_zero_area_boxes_match_and_distant_ones_do_not():
    # Random-weight regression heads return boxes of no width or height: 0 / 0 would be their IoU.
    flat = boxes_of([5, 5, 5, 5], [20, 20, 20.5, 40], labels=[1, 1], scores=[0.9, 0.8])
    comparison = detection.compare_outputs(flat, flat, RTOL, ATOL)
    assert comparison["matched"] == 2 and comparison["min_matched_iou"] == 1.0 and comparison["within_tolerance"]
    moved = boxes_of([7, 5, 7, 5], [20, 20, 20.5, 40], labels=[1, 1], scores=[0.9, 0.8])
    assert detection.compare_outputs(flat, moved, RTOL, ATOL)["matched"] == 1


def test_a_missing_detection_and_another_label_lower_the_matched_share():
    missing = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], labels=[1, 2], scores=[0.9, 0.8])
    comparison = detection.compare_outputs(REFERENCE, missing, RTOL, ATOL)
    assert comparison["matched"] == 2 and comparison["matched_fraction"] == pytest.approx(2 / 3)
    assert not comparison["within_tolerance"]
    relabelled = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 3, 1])
    assert detection.compare_outputs(REFERENCE, relabelled, RTOL, ATOL)["matched"] == 2


def test_a_score_beyond_tolerance_fails():
    rescored = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1], scores=[0.9, 0.8, 0.71])
    comparison = detection.compare_outputs(REFERENCE, rescored, RTOL, ATOL)
    assert comparison["max_score_diff"] == pytest.approx(0.01, abs=1e-6) and not comparison["within_tolerance"]


def test_an_empty_reference_cannot_discriminate_and_never_passes():
    empty = boxes_of()
    comparison = detection.compare_outputs(empty, empty, RTOL, ATOL)
    assert not comparison["discriminates"] and not comparison["within_tolerance"]
    assert "no detection" in detection.parity_message("x", comparison)
    assert not detection.compare_outputs(REFERENCE, empty, RTOL, ATOL)["within_tolerance"]


def test_tied_scores_cannot_discriminate():
    # Which of equally scored boxes NMS and the cap keep is arbitrary: a mismatch proves nothing.
    tied = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], scores=[0.3, 0.3])
    comparison = detection.compare_outputs(tied, boxes_of([0, 0, 10, 10], scores=[0.3]), RTOL, ATOL)
    assert not comparison["discriminates"]
    assert "scores every detection alike" in detection.parity_message("x", comparison)


def test_flipped_mask_pixels_give_a_known_mask_iou():
    masks = torch.zeros(1, 1, 10, 10)
    masks[0, 0, :5, :] = 1.0  # 50 foreground pixels
    flipped = masks.clone()
    flipped[0, 0, 5, :5] = 1.0  # 5 more: IoU 50 / 55
    reference = boxes_of([0, 0, 10, 10], masks=masks)
    comparison = detection.compare_outputs(reference, boxes_of([0, 0, 10, 10], masks=flipped), RTOL, ATOL)
    assert comparison["min_mask_iou"] == pytest.approx(50 / 55) and not comparison["within_tolerance"]
    assert detection.compare_outputs(reference, reference, RTOL, ATOL)["within_tolerance"]


def test_mask_pixels_within_tolerance_of_the_threshold_may_flip():
    masks = torch.zeros(1, 1, 10, 10)
    masks[0, 0, :5, :] = 0.9  # 50 foreground pixels
    masks[0, 0, 5, 0] = 0.5 + 1e-6  # one more, a rounding away from the background
    nudged = masks.clone()
    nudged[0, 0, 5, 0] = 0.5 - 1e-6
    reference = boxes_of([0, 0, 10, 10], masks=masks)
    comparison = detection.compare_outputs(reference, boxes_of([0, 0, 10, 10], masks=nudged), RTOL, ATOL)
    assert comparison["min_mask_iou"] == 1.0 and comparison["within_tolerance"]
    nudged[0, 0, 5, 1] = 0.6  # beyond tolerance: counts
    comparison = detection.compare_outputs(reference, boxes_of([0, 0, 10, 10], masks=nudged), RTOL, ATOL)
    assert comparison["min_mask_iou"] == pytest.approx(50 / 51)


def test_moved_keypoints_give_their_distance():
    keypoints = torch.zeros(1, 17, 3)
    keypoints[0, :, 0] = torch.arange(17.0)
    moved = keypoints.clone()
    moved[0, 3, :2] += torch.tensor([3.0, 4.0])  # 5 px off: 16 of 17 within 1 px
    scores = torch.ones(1, 17)
    reference = boxes_of([0, 0, 10, 10], keypoints=keypoints, keypoints_scores=scores)
    comparison = detection.compare_outputs(
        reference, boxes_of([0, 0, 10, 10], keypoints=moved, keypoints_scores=scores), RTOL, ATOL
    )
    assert comparison["max_keypoint_distance_px"] == pytest.approx(5.0)
    assert comparison["keypoints_within_px"] == pytest.approx(16 / 17) and not comparison["within_tolerance"]


def test_prediction_records_round_trip_and_compare(tmp_path):
    masks = torch.rand(3, 1, 8, 12, generator=torch.Generator().manual_seed(0))
    found = boxes_of([0, 0, 10, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1], masks=masks)
    labels = ["__background__", "person", "bicycle"]
    record_path = tmp_path / "eager.json"
    results = [detection.decode(found, labels, tmp_path / "cat.dat")]
    assert [d["category"] for d in results[0]["detections"]] == ["person", "bicycle", "person"]
    record_path.write_text(json.dumps({"results": store_tensor_outputs(results, record_path)}))
    record = resolve_tensor_outputs(json.loads(record_path.read_text()), record_path)
    assert torch.equal(record["results"][0]["masks"], masks[:, 0])
    (row,) = detection.compare_predictions(record, record, RTOL, ATOL, identity={"runtime": "eager"})
    assert row["image"] == "cat" and row["runtime"] == "eager" and row["within_tolerance"]
    with pytest.raises(ValueError, match="label 2 beyond the 2 category names"):
        detection.decode(found, labels[:2], tmp_path / "cat.dat")


def test_scripted_resize_rounds_as_the_scripted_transform_and_restores_eager():
    from torchvision.models.detection import transform
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    # The 320-pixel Faster R-CNN's transform on coffee_cup.png's 400 x 600: 320 / 400 in float32.
    resize = GeneralizedRCNNTransform(320, 640, [0.0] * 3, [1.0] * 3)
    image = torch.rand(3, 400, 600)
    eager = transform._resize_image_and_masks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(resize)
    assert list(resize.resize(image, None)[0].shape[-2:]) == [320, 480]
    assert list(scripted([image])[0].image_sizes[0]) == [319, 479]
    with detection.scripted_resize():
        assert list(resize.resize(image, None)[0].shape[-2:]) == [319, 479]
    assert transform._resize_image_and_masks is eager
    with pytest.raises(RuntimeError), detection.scripted_resize():
        raise RuntimeError("restored even so")
    assert transform._resize_image_and_masks is eager


def test_parity_judges_a_deployment_at_the_resize_it_matches(tmp_path):
    """An eager entry whose image the scripted transform resizes otherwise: a candidate matching
    eager's detections is judged there, one matching those at the scripted resize there (and the
    row says so), one matching neither differs."""
    labels = ["__background__", "person", "bicycle"]
    at_scripted = boxes_of([1, 0, 11, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])
    entry = detection.decode(REFERENCE, labels, tmp_path / "cat.dat")
    alternative = detection.decode(at_scripted, labels, tmp_path / "cat.dat")
    entry |= {
        "resized": [320, 480],
        "scripted_resize_resized": [319, 479],
        "scripted_resize_detections": alternative["detections"],
    }
    reference = {"results": [entry]}

    def judged(found: Detections) -> dict:
        candidate = {"results": [detection.decode(found, labels, tmp_path / "cat.dat")]}
        (row,) = detection.compare_predictions(reference, candidate, RTOL, ATOL, identity={})
        return row

    row = judged(REFERENCE)
    assert (row["within_tolerance"], row["at_scripted_resize"], row["resized_as"]) == (True, 0.0, "eager")
    row = judged(at_scripted)
    assert (row["within_tolerance"], row["at_scripted_resize"], row["resized_as"]) == (True, 1.0, "scripted")
    assert (row["eager_resized"], row["scripted_resized"], row["min_matched_iou"]) == ([320, 480], [319, 479], 1.0)
    row = judged(boxes_of([3, 0, 13, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1]))
    assert not row["within_tolerance"]
    # An entry without a scripted alternative is judged as ever, flagged 0.
    (row,) = detection.compare_predictions({"results": [alternative]}, reference, RTOL, ATOL, identity={})
    assert not row["within_tolerance"] and row["at_scripted_resize"] == 0.0 and "resized_as" not in row


def test_preprocess_is_the_weights_preset():
    from PIL import Image
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_320_FPN_Weights

    image = REPO_ROOT / "data" / "images" / "chelsea_cat.png"
    (tensor,) = detection.preprocess(image, {})
    expected = FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1.transforms()(Image.open(image).convert("RGB"))
    assert tensor.shape == expected.shape and torch.equal(tensor, expected)


def test_an_image_far_beyond_every_resize_is_refused_naming_it(tmp_path):
    from PIL import Image

    wide = tmp_path / "panorama.png"
    Image.new("RGB", (detection.MAX_IMAGE_SIDE_PX + 1, 8)).save(wide)
    with pytest.raises(detection.ImageTooLargeError, match=f"image {wide} is 10665 x 8 pixels"):
        detection.preprocess(wide, {})
    Image.new("RGB", (8, detection.MAX_IMAGE_SIDE_PX)).save(tmp_path / "tall.png")
    (tensor,) = detection.preprocess(tmp_path / "tall.png", {})
    assert tensor.shape == (3, detection.MAX_IMAGE_SIDE_PX, 8)


def test_the_largest_resize_is_the_detectors_largest():
    from torchvision.models import detection as detection_models
    from torchvision.models import get_model, list_models

    sides = {}
    with torch.device("meta"):
        for model in list_models(module=detection_models):
            transform = get_model(model, weights=None, weights_backbone=None).transform
            sides[model] = max(transform.fixed_size or (transform.max_size,))
    assert len(sides) == 12 and max(sides.values()) == detection.LARGEST_RESIZE_PX, sides


@pytest.mark.slow
def test_a_random_weight_detector_returns_boxes_only_with_its_threshold_at_zero_and_scripts():
    from torchvision.models import get_model_builder

    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    net = get_model_builder(model)(weights=None, weights_backbone=None, **detection.random_weights_kwargs(model))
    default = get_model_builder(model)(weights=None, weights_backbone=None).eval()
    default.load_state_dict(net.state_dict())
    wrapped = detection.wrap_model(net.eval())
    image = torch.rand(3, 240, 320, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert len(default([image])[0]["boxes"]) == 0  # why the threshold is lowered
        eager = detection.output_tensor(wrapped(image))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(wrapped)
    with torch.inference_mode():
        comparison = detection.compare_outputs(eager, detection.output_tensor(scripted(image)), RTOL, ATOL)
    assert eager.count > 0 and comparison["matched"] == eager.count and comparison["within_tolerance"], comparison
    # The builder's random weights make this backbone's activations vanish (~1e-8): every box scores
    # alike, so which ones the cap keeps is arbitrary and the check says it cannot discriminate.
    assert detection.scores_tied(eager) and not comparison["discriminates"]


@pytest.mark.slow
def test_an_image_whose_detections_move_with_the_thread_count_tells_a_gross_difference_only(tmp_path):
    """Eager's own detections at another thread count moved beyond tolerance (a box shifted 1 px,
    IoU 0.82): a candidate that differs as slightly is not checked on that image, one that lost
    two of three detections still differs; where eager's stayed put, a 1-px shift differs."""
    labels = ["__background__", "person", "bicycle"]
    shifted = boxes_of([1, 0, 11, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])

    def judged(other_threads: Detections, found: Detections) -> dict:
        entry = detection.decode(REFERENCE, labels, tmp_path / "cat.dat")
        entry |= {
            "other_threads_threads": 2,
            "other_threads_detections": detection.decode(other_threads, labels, tmp_path / "cat.dat")["detections"],
        }
        candidate = {"results": [detection.decode(found, labels, tmp_path / "cat.dat")]}
        (row,) = detection.compare_predictions({"results": [entry]}, candidate, RTOL, ATOL, identity={})
        return row

    slightly = boxes_of([0, 1, 10, 11], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])
    row = judged(shifted, slightly)
    assert row["moves_with_threads"] and not row["discriminates"] and row["within_tolerance"], row
    assert row["eager_threads"] == 2 and row["eager_threads_min_matched_iou"] == pytest.approx(90 / 110)
    assert row["median_matched_iou"] == 1.0
    assert "not checked on this image, where eager's own detections at 2 thread(s) moved" in detection.parity_message(
        "x", row
    )
    row = judged(shifted, boxes_of([0, 1, 10, 11], labels=[1]))
    assert not row["discriminates"] and not row["within_tolerance"] and row["matched_fraction"] == pytest.approx(1 / 3)
    assert "grossly off" in detection.parity_message("x", row)
    row = judged(REFERENCE, slightly)
    assert not row["moves_with_threads"] and row["discriminates"] and not row["within_tolerance"]
    assert row["eager_threads_max_score_diff"] == 0.0
    # Within tolerance, but not within a tenth of it (IoU 0.996): one rerun is one sample of the
    # reordering, so the image does not stay put.
    nudged = boxes_of([0.02, 0, 10.02, 10], [20, 20, 40, 40], [50, 0, 60, 30], labels=[1, 2, 1])
    assert detection.compare_outputs(REFERENCE, nudged, RTOL, ATOL)["within_tolerance"]
    row = judged(nudged, slightly)
    assert row["moves_with_threads"] and not row["discriminates"] and row["within_tolerance"], row


def test_eager_records_the_scripted_resize_which_the_scripted_detector_matches(tmp_path):
    """coffee_cup.png's 400 x 600, which the scripted 320-pixel Faster R-CNN resizes to 319 x 479
    where eager gives 320 x 480 (calibrated random weights): eager's detections differ from the
    scripted ones, eager's at the scripted resize are the scripted ones, and parity says so."""
    from torchvision.models import get_model_builder

    from tvdeploy.inputs.dat import write_dat

    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    torch.manual_seed(0)
    net = get_model_builder(model)(weights=None, weights_backbone=None, **detection.random_weights_kwargs(model))
    detection.calibrate_random(net, seed=0)
    wrapped = detection.wrap_model(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(wrapped)
    dat = tmp_path / "cup.dat"
    write_dat(torch.rand(3, 400, 600, generator=torch.Generator().manual_seed(0)), dat, "CHW", {})
    context = {"labels": [str(label) for label in range(91)]}
    (eager,) = detection.predict(wrapped, [dat], context, torch.device("cpu"))
    (deployed,) = detection.predict(scripted, [dat], context, torch.device("cpu"))
    assert (eager["resized"], eager["scripted_resize_resized"]) == ([320, 480], [319, 479])
    # Eager's detections at another thread count, to tell how far the image's move with it alone.
    assert eager["other_threads_threads"] == (2 if torch.get_num_threads() == 1 else 1)
    assert len(eager["other_threads_detections"]) == len(eager["detections"]) > 0
    assert "other_threads_detections" not in deployed
    assert "resized" not in deployed and deployed["detections"] != eager["detections"]
    (row,) = detection.compare_predictions({"results": [eager]}, {"results": [deployed]}, RTOL, ATOL, identity={})
    assert row["discriminates"] and row["within_tolerance"] and row["at_scripted_resize"] == 1.0, row
    assert row["matched_fraction"] == 1.0 and row["max_score_diff"] == 0.0
    plain = detection.compare_outputs(detection._detections_of(eager), detection._detections_of(deployed), RTOL, ATOL)
    assert not plain["within_tolerance"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [
        "fasterrcnn_resnet50_fpn",
        "retinanet_resnet50_fpn",
        "fcos_resnet50_fpn",
        "ssd300_vgg16",
        "keypointrcnn_resnet50_fpn",
    ],
)
def test_every_detector_family_takes_its_random_weight_threshold(model):
    from torchvision.models import get_model_builder

    kwargs = detection.random_weights_kwargs(model)
    net = get_model_builder(model)(weights=None, weights_backbone=None, **kwargs)
    thresholds = [
        getattr(part, attribute)
        for part in (getattr(net, "roi_heads", None), net)
        for attribute in ("score_thresh",)
        if part is not None and hasattr(part, attribute)
    ]
    assert thresholds and thresholds[0] == detection.RANDOM_WEIGHTS_SCORE_THRESHOLD


COFFEE_CUP = REPO_ROOT / "data" / "images" / "coffee_cup.png"  # 600 x 400


def _rgb(colour: str) -> list[int]:
    return [int(colour[i : i + 2], 16) for i in (1, 3, 5)]


def _source() -> torch.Tensor:
    from torchvision.transforms.functional import pil_to_tensor

    from tvdeploy.inputs.images import load_rgb_image

    return pil_to_tensor(load_rgb_image(COFFEE_CUP))


def _detection(box, score, category="cup", **extra) -> dict:
    return {"box": box, "label": 47, "category": category, "score": score, **extra}


def test_draw_prediction_draws_the_best_scoring_box_in_the_first_colour_and_its_thresholded_mask():
    from tvdeploy.tasks import PICTURE_COLOURS

    found = [_detection([300, 200, 400, 300], 0.02, "bowl"), _detection([50, 40, 150, 140], 0.3)]
    masks = torch.zeros(2, 400, 600)
    masks[1, 60:120, 70:130] = 0.9  # the cup's mask, above MASK_THRESHOLD
    masks[1, 200:260, 200:260] = 0.4  # below it: not drawn
    picture, caption = detection.draw_prediction({"detections": found, "masks": masks}, {"image": str(COFFEE_CUP)})
    source = _source()
    assert picture.dtype == torch.uint8 and picture.shape == source.shape == (3, 400, 600)
    # The best-scoring detection (the cup) is drawn first in the palette: its left edge has the
    # colour; the second's (the bowl) the second colour.
    assert picture[:, 90, 50].tolist() == _rgb(PICTURE_COLOURS[0])
    assert picture[:, 250, 300].tolist() == _rgb(PICTURE_COLOURS[1])
    assert not torch.equal(picture[:, 80:100, 90:110], source[:, 80:100, 90:110])  # mask above threshold
    assert torch.equal(picture[:, 210:250, 210:250], source[:, 210:250, 210:250])  # below: untouched
    assert torch.equal(picture[:, 350:, :40], source[:, 350:, :40])  # nothing drawn there
    assert caption == "top 2 of 2 detections by score: cup 0.30, bowl 0.02"


def test_draw_prediction_takes_the_top_scores_only_and_draws_keypoints():
    from tvdeploy.tasks.detection import DRAWN_DETECTIONS, KEYPOINT_COLOUR

    keypoints = [[500.0, 350.0, 1.0]] * 17
    found = [
        _detection(
            [10 + 20 * k, 10, 20 + 20 * k, 20], 0.01 * k, "person", keypoints=keypoints, keypoints_scores=[1.0] * 17
        )
        for k in range(DRAWN_DETECTIONS + 2)
    ]
    picture, caption = detection.draw_prediction({"detections": found}, {"image": str(COFFEE_CUP)})
    source = _source()
    assert caption.startswith(f"top {DRAWN_DETECTIONS} of {DRAWN_DETECTIONS + 2} detections by score: person 0.11")
    # The two lowest scores (the first two boxes) are left out; the third is drawn.
    assert torch.equal(picture[:, 10:21, 10:41], source[:, 10:21, 10:41])
    assert not torch.equal(picture[:, 10:21, 50:61], source[:, 10:21, 50:61])
    assert picture[:, 350, 500].tolist() == _rgb(KEYPOINT_COLOUR)


def test_draw_prediction_of_no_detection_is_the_image_itself():
    picture, caption = detection.draw_prediction({"detections": []}, {"image": str(COFFEE_CUP)})
    assert torch.equal(picture, _source()) and caption == "no detection"
