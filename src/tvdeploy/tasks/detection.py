"""Adapter of the detection task (contract: tvdeploy.tasks): object detection, instance segmentation
and keypoints. torchvision's detectors take a list of CHW images and return a dict per image
(``boxes`` xyxy, ``labels``, ``scores``, plus ``masks`` or ``keypoints`` and ``keypoints_scores``);
scripted, they return ``(losses, detections)`` even in eval mode. Deployed is one image in, the
image's detection fields out as a list of tensors (``OneImageDetections``), what every runtime can
carry. Parity matches the detections of two runtimes (Hungarian assignment on IoU among equal
labels) instead of comparing them position by position: non-maximum suppression may order
near-tied detections differently. An empty reference proves nothing and is never a pass."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tvdeploy.inputs.dat import read_dat
from tvdeploy.inputs.images import load_rgb_image
from tvdeploy.predict.outputs import TensorOutput
from tvdeploy.registry.tasks import DETECTION, TASKS
from tvdeploy.tasks import PICTURE_COLOURS, ParityError
from tvdeploy.tasks.detection_matching import MASK_THRESHOLD as MASK_THRESHOLD
from tvdeploy.tasks.detection_matching import OTHER_THREADS, at_other_threads, judged_with_threads_floor
from tvdeploy.tasks.detection_matching import Detections as Detections
from tvdeploy.tasks.detection_matching import compare_outputs as compare_outputs
from tvdeploy.tasks.detection_matching import parity_message as parity_message
from tvdeploy.tasks.detection_matching import scores_tied as scores_tied
from tvdeploy.tasks.record_pairs import paired_results

TASK = TASKS[DETECTION]
# Every image has its own size, and the models resize it themselves: H and W vary.
DYNAMIC_AXES = {1: "height", 2: "width"}
# Where the dynamo ONNX export fails (torch.export stops at the detectors' data-dependent shapes:
# vision#9306, pytorch#118884), the TorchScript-based exporter builds the graph instead, as
# torchvision documents for its detectors (tvdeploy.build.exporters.export_onnx).
ONNX_TORCHSCRIPT_FALLBACK = True
BOX_FIELDS = ("boxes", "labels", "scores")
MASK_FIELDS = (*BOX_FIELDS, "masks")
KEYPOINT_FIELDS = (*BOX_FIELDS, "keypoints", "keypoints_scores")
# What random-weight detectors are built with: at the default (0.05) they return no boxes at all,
# and a parity check on empty outputs proves nothing.
RANDOM_WEIGHTS_SCORE_THRESHOLD = 0.0
# The builders' name for the score threshold by their module in torchvision.models.detection: the
# R-CNNs' ROI heads take box_score_thresh, RetinaNet, FCOS, SSD and SSDlite score_thresh.
SCORE_THRESHOLD_KWARG = {
    "faster_rcnn": "box_score_thresh",
    "mask_rcnn": "box_score_thresh",
    "keypoint_rcnn": "box_score_thresh",
}
DEFAULT_SCORE_THRESHOLD_KWARG = "score_thresh"


def output_fields(net: nn.Module) -> tuple[str, ...]:
    """The detection fields a torchvision detector returns per image."""
    from torchvision.models.detection import KeypointRCNN, MaskRCNN

    if isinstance(net, MaskRCNN):
        return MASK_FIELDS
    if isinstance(net, KeypointRCNN):
        return KEYPOINT_FIELDS
    return BOX_FIELDS


class OneImageDetections(nn.Module):
    """A detector as one image in ([C, H, W], values in [0, 1]), that image's detection fields out
    (a list of tensors in ``fields`` order). Scriptable: scripted, the detector returns
    ``(losses, detections)``, eager a list of detections."""

    __constants__ = ["fields"]

    def __init__(self, model: nn.Module, fields: tuple[str, ...]):
        super().__init__()
        self.model = model
        self.fields = list(fields)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        if torch.jit.is_scripting():
            detections = self.model([image])[1]
        else:
            detections = self.model([image])
        first = detections[0]
        return [first[field] for field in self.fields]


def wrap_model(net: nn.Module) -> nn.Module:
    """The module every stage deploys and measures for a torchvision detector."""
    return OneImageDetections(net, output_fields(net)).eval()


# Known difference: torchvision's detection transform computes its resize scale with float32
# tensors when scripted or traced and with Python floats in eager, so a deployment can resize an
# image one pixel smaller than eager (400 x 600 at 320/640: scale 0.79999995, 319 x 479 instead of
# 320 x 480; pytorch#58234, discussed in vision#3654). The eager reference then records its
# detections at both resizes, and parity judges a deployment against the one it matches.
RESIZE_UPSTREAM = "pytorch#58234"
# The prefix of an eager prediction entry's fields at the scripted resize.
SCRIPTED_RESIZE = "scripted_resize_"


@functools.cache
def _scripted_resize_function():
    from torchvision.models.detection import transform

    return torch.jit.script(transform._resize_image_and_masks)


@contextlib.contextmanager
def scripted_resize() -> Iterator[None]:
    """Within it, every torchvision detection transform resizes as it does scripted or traced:
    torchvision's own resize function, compiled by TorchScript (so its float32 branch runs), stands
    in for the eager one."""
    from torchvision.models.detection import transform

    eager = transform._resize_image_and_masks
    transform._resize_image_and_masks = _scripted_resize_function()
    try:
        yield
    finally:
        transform._resize_image_and_masks = eager


def resized_size(module: OneImageDetections, image: torch.Tensor) -> list[int]:
    """The [H, W] an eager detector's transform resizes ``image`` to."""
    return list(module.model.transform.resize(image, None)[0].shape[-2:])


def output_tensor(output: Any) -> Detections:
    """A deployed detector's output (the list or tuple of fields OneImageDetections returns, or an
    eager detector's list of dicts) as Detections; what parity compares."""
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], dict):
        output = [output[0][field] for field in output_fields_of(output[0])]
    if not isinstance(output, (list, tuple)) or len(output) not in (
        len(BOX_FIELDS),
        len(MASK_FIELDS),
        len(KEYPOINT_FIELDS),
    ):
        raise TypeError(f"detector output of type {type(output).__name__} is not a list of detection fields")
    tensors = [t.detach().cpu() for t in output]
    boxes, labels, scores = tensors[:3]
    if len(tensors) == len(MASK_FIELDS):
        return Detections(boxes, labels, scores, masks=tensors[3])
    if len(tensors) == len(KEYPOINT_FIELDS):
        return Detections(boxes, labels, scores, keypoints=tensors[3], keypoints_scores=tensors[4])
    return Detections(boxes, labels, scores)


def output_fields_of(detection: dict) -> tuple[str, ...]:
    for fields in (KEYPOINT_FIELDS, MASK_FIELDS):
        if all(field in detection for field in fields):
            return fields
    return BOX_FIELDS


def deployable(net: nn.Module, output: Any) -> tuple[nn.Module, str]:
    """``net`` (already OneImageDetections, from wrap_model) as it is, with a description of its output."""
    fields = getattr(net, "fields", None)
    if fields is None:
        raise TypeError("a detector is deployed through tvdeploy.tasks.detection.wrap_model (one image in)")
    output_tensor(output)  # TypeError unless it is a list of detection fields
    return net, f"list[{', '.join(fields)}] of one image"


def read_labels(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def decoding_context(labels_path: str | Path, topk: int | None = None) -> dict:
    """What decoding needs: the weights' COCO category names, one per line, indexed by label
    (index 0 is the background, "__background__"); ``topk`` is classification's and ignored."""
    return {"labels": read_labels(labels_path)}


def decode(detections: Detections, labels: list[str], dat: str | Path) -> dict:
    """One image's prediction entry, in the layout the C++ infer writes for --task detection."""
    if detections.count and int(detections.labels.max()) >= len(labels):
        raise ValueError(f"{dat}: label {int(detections.labels.max())} beyond the {len(labels)} category names")
    entries = []
    for k in range(detections.count):
        entry = {
            "box": detections.boxes[k].double().tolist(),
            "label": int(detections.labels[k]),
            "category": labels[int(detections.labels[k])],
            "score": float(detections.scores[k]),
        }
        if detections.keypoints is not None:
            entry["keypoints"] = detections.keypoints[k].double().tolist()
            entry["keypoints_scores"] = detections.keypoints_scores[k].double().tolist()
        entries.append(entry)
    result: dict[str, Any] = {"input": str(dat), "row": 0, "detections": entries}
    if detections.masks is not None:
        # [K, H, W] soft masks (the channel axis of [K, 1, H, W] dropped).
        result["masks"] = TensorOutput(detections.masks.reshape(detections.count, *detections.masks.shape[-2:]), "KHW")
    return result


def predict(module, dat_paths, context: dict, device: torch.device) -> list[dict]:
    """Per image (a .dat each): its detections with category names, masks stored as a .dat. An
    eager detector's entry also gives the size its transform resized to, and where the scripted
    transform resizes to another (RESIZE_UPSTREAM), that size and the detections at it, under
    SCRIPTED_RESIZE names; on the CPU, its detections at another thread count (OTHER_THREADS)."""
    labels = context["labels"]
    results = []
    with torch.inference_mode():
        for dat in dat_paths:
            image = read_dat(dat).to(device)
            entry = decode(output_tensor(module(image)), labels, dat)
            if isinstance(module, OneImageDetections):
                entry["resized"] = resized_size(module, image)
                with scripted_resize():
                    scripted_size = resized_size(module, image)
                    if scripted_size != entry["resized"]:
                        at_scripted = decode(output_tensor(module(image)), labels, dat)
                        entry[f"{SCRIPTED_RESIZE}resized"] = scripted_size
                        for field in ("detections", "masks"):
                            if field in at_scripted:
                                entry[f"{SCRIPTED_RESIZE}{field}"] = at_scripted[field]
                if image.device.type == "cpu":
                    threads, output = at_other_threads(module, image)
                    entry[f"{OTHER_THREADS}threads"] = threads
                    entry[f"{OTHER_THREADS}detections"] = decode(output_tensor(output), labels, dat)["detections"]
            results.append(entry)
    return results


def _detections_of(entry: dict, prefix: str = "") -> Detections:
    """An entry's detections (``prefix`` SCRIPTED_RESIZE: an eager entry's at the scripted resize)."""
    found = entry[f"{prefix}detections"]
    boxes = torch.tensor([d["box"] for d in found], dtype=torch.float64).reshape(-1, 4)
    labels = torch.tensor([d["label"] for d in found], dtype=torch.long)
    scores = torch.tensor([d["score"] for d in found], dtype=torch.float64)
    masks = entry.get(f"{prefix}masks")
    if masks is not None and not isinstance(masks, torch.Tensor):
        raise TypeError(f"the masks of {entry['input']} are not read in: resolve_tensor_outputs first")
    keypoints = keypoints_scores = None
    if found and "keypoints" in found[0]:
        keypoints = torch.tensor([d["keypoints"] for d in found], dtype=torch.float64)
        keypoints_scores = torch.tensor([d["keypoints_scores"] for d in found], dtype=torch.float64)
    return Detections(
        boxes,
        labels,
        scores,
        masks=None if masks is None else masks.unsqueeze(1),
        keypoints=keypoints,
        keypoints_scores=keypoints_scores,
    )


def compare_predictions(reference: dict, candidate: dict, rtol: float, atol: float, identity: dict) -> list[dict]:
    """One parity row per image: its detections matched (compare_outputs) across the two records.
    Where the eager reference resized the image otherwise than the scripted transform does
    (RESIZE_UPSTREAM), the candidate is judged against the eager detections at the resize they
    match (at eager's first; else the closer one), and the row says which (``resized_as``:
    "eager" or "scripted") with both sizes; ``at_scripted_resize`` is 1 for such a row judged at
    the scripted resize and 0 for every other. Where the reference holds eager's detections at
    another thread count, a row also says how far those moved, and an image whose detections move
    beyond tolerance with the thread count alone does not discriminate (judged_with_threads_floor)."""
    rows = []
    for name, expected, result in paired_results(reference, candidate):
        found, eager = _detections_of(result), _detections_of(expected)
        comparison = compare_outputs(eager, found, rtol, atol)
        resize: dict[str, Any] = {"at_scripted_resize": 0.0}
        if f"{SCRIPTED_RESIZE}detections" in expected:
            at_scripted = compare_outputs(_detections_of(expected, SCRIPTED_RESIZE), found, rtol, atol)
            closer = at_scripted["matched_fraction"] > comparison["matched_fraction"]
            scripted = not comparison["within_tolerance"] and (at_scripted["within_tolerance"] or closer)
            resize = {
                "at_scripted_resize": float(scripted),
                "resized_as": "scripted" if scripted else "eager",
                "eager_resized": expected["resized"],
                "scripted_resized": expected[f"{SCRIPTED_RESIZE}resized"],
                "resize_upstream": RESIZE_UPSTREAM,
            }
            comparison = at_scripted if scripted else comparison
        if f"{OTHER_THREADS}detections" in expected:
            floor = compare_outputs(eager, _detections_of(expected, OTHER_THREADS), rtol, atol)
            comparison = judged_with_threads_floor(comparison, floor, expected[f"{OTHER_THREADS}threads"])
        rows.append({**identity, "image": name, **comparison, **resize})
    return rows


# The longest side any torchvision detector resizes an image to (the R-CNNs', RetinaNet's and
# FCOS's max_size; SSD and SSDlite take 300 and 320), and how far beyond it an input image may go:
# a larger one would only be shrunk again inside the model, after its float32 .dat (12 bytes a
# pixel) and the preprocessing had cost gigabytes.
LARGEST_RESIZE_PX = 1333
MAX_IMAGE_SIDE_FACTOR = 8
MAX_IMAGE_SIDE_PX = LARGEST_RESIZE_PX * MAX_IMAGE_SIDE_FACTOR


class ImageTooLargeError(ValueError):
    """An input image far beyond any detector's resize."""


def preprocess(path: str | Path, spec: dict) -> tuple[torch.Tensor]:
    """One image as the ObjectDetection preset gives it: [C, H, W] float in [0, 1], its own size
    (the models resize and normalise inside). An image with a side beyond MAX_IMAGE_SIDE_PX is
    refused, naming the file."""
    from torchvision.transforms._presets import ObjectDetection

    image = load_rgb_image(path)
    if max(image.size) > MAX_IMAGE_SIDE_PX:
        width, height = image.size
        raise ImageTooLargeError(
            f"image {path} is {width} x {height} pixels: the detectors resize to at most {LARGEST_RESIZE_PX} px "
            f"a side, and an image over {MAX_IMAGE_SIDE_FACTOR} times that ({MAX_IMAGE_SIDE_PX} px) is refused; "
            "scale it down first"
        )
    return (ObjectDetection()(image).contiguous(),)


def example_inputs(info, batch: int, seed: int) -> tuple[torch.Tensor]:
    """A seeded random image of the catalog row's example shape ([C, H, W] in [0, 1]); a detector
    takes one image per call, so ``batch`` must be 1."""
    if batch != 1:
        raise ParityError(f"a detector takes one image per call, not a batch of {batch}")
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(tuple(info.input_shape[1:]), generator=generator),)


def builder_kwargs(model: str, weights) -> dict[str, Any]:
    """What torchvision's detection builders derive from their DEFAULT weights besides
    ``num_classes`` (and ``num_keypoints``), to build the same architecture with ``weights=None``:
    no separate backbone weights (the file holds the whole model), and the backbone's trainable
    layers as the builders set them for full weights (which affects only training)."""
    kwargs: dict[str, Any] = {"weights_backbone": None}
    num_keypoints = len(weights.meta.get("keypoint_names", ()))
    if num_keypoints:
        kwargs["num_keypoints"] = num_keypoints
    return kwargs


def random_weights_kwargs(model: str) -> dict[str, Any]:
    """The score threshold a random-weight detector is built with (RANDOM_WEIGHTS_SCORE_THRESHOLD,
    under its builder's name for it), so that it returns boxes; the per-image cap stays."""
    from torchvision.models import get_model_builder

    module = get_model_builder(model).__module__.rsplit(".", 1)[-1]
    return {SCORE_THRESHOLD_KWARG.get(module, DEFAULT_SCORE_THRESHOLD_KWARG): RANDOM_WEIGHTS_SCORE_THRESHOLD}


# The random weights' calibration (calibrate_random): seeded random images the backbone's batch
# norms see in training mode, and how many passes over them.
CALIBRATION_IMAGES = 2
CALIBRATION_PASSES = 3
# The builders build another architecture for trained weights than for none (frozen batch norms,
# whose state has no num_batches_tracked): random weights keep the keys of the trained one.
TRAINED_ARCHITECTURE_DIFFERS = True


def calibrate_random(net: nn.Module, seed: int) -> None:
    """Give a randomly initialised detector batch-norm statistics that its own backbone produces, in
    place: with the builder's (mean 0, variance 1) the backbone's activations vanish (~1e-8) and
    every box scores alike, so which ones NMS and the per-image cap keep is arbitrary (two right
    runtimes kept 78 of 100 alike). Every BatchNorm2d's running statistics are reset to a
    cumulative average (momentum None), and the backbone runs in training mode on the model's own
    transform of CALIBRATION_IMAGES seeded random images of the task's example size,
    CALIBRATION_PASSES times; the model is left in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    images = [torch.rand(3, *TASK.example_size, generator=generator) for _ in range(CALIBRATION_IMAGES)]
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    net.eval()
    with torch.no_grad():
        batch = net.transform(images)[0].tensors
        net.backbone.train()
        for _ in range(CALIBRATION_PASSES):
            net.backbone(batch)
    net.eval()


# The picture of a prediction (draw_prediction): the best-scoring detections alone (random weights
# score everything low, so no threshold would pick them), the k-th best in the k-th PICTURE_COLOURS.
DRAWN_DETECTIONS = 10
KEYPOINT_COLOUR = "#ffffff"
MASK_ALPHA = 0.4


def draw_prediction(entry: dict, sidecar: dict, labels: list[str] | None = None) -> tuple[torch.Tensor, str]:
    """One resolved prediction entry on its source image (``sidecar["image"]``, the size its boxes
    and masks are in): the DRAWN_DETECTIONS best by score, masks thresholded at MASK_THRESHOLD,
    boxes with category and score, keypoints where the entry has them (``labels``: the entry names
    its categories)."""
    from torchvision.transforms.functional import pil_to_tensor
    from torchvision.utils import draw_bounding_boxes, draw_keypoints, draw_segmentation_masks

    image = pil_to_tensor(load_rgb_image(sidecar["image"]))
    found = entry["detections"]
    order = sorted(range(len(found)), key=lambda k: -found[k]["score"])[:DRAWN_DETECTIONS]
    if not order:
        return image, "no detection"
    colours = [PICTURE_COLOURS[i % len(PICTURE_COLOURS)] for i in range(len(order))]
    if entry.get("masks") is not None:
        masks = entry["masks"][order] > MASK_THRESHOLD
        image = draw_segmentation_masks(image, masks, alpha=MASK_ALPHA, colors=colours)
    boxes = torch.tensor([found[k]["box"] for k in order], dtype=torch.float32)
    # Boxes of random weights may leave the image: drawn at its edge instead of not at all.
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, image.shape[2] - 1)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, image.shape[1] - 1)
    names = [f"{found[k]['category']} {found[k]['score']:.2f}" for k in order]
    image = draw_bounding_boxes(image, boxes, names, colours, width=2)
    if "keypoints" in found[order[0]]:
        keypoints = torch.tensor([found[k]["keypoints"] for k in order], dtype=torch.float32)[..., :2]
        image = draw_keypoints(image, keypoints, colors=KEYPOINT_COLOUR, radius=3)
    caption = f"top {len(order)} of {len(found)} detections by score: " + ", ".join(names[:3])
    return image, caption
