"""The torchvision tasks tvdeploy deploys, each declared once (torch-free): where its models come
from, how their inputs are preprocessed and laid out, what comes out, how two runtimes' outputs
are compared and how accuracy is scored, and what cannot run it.

Each task has one adapter module (``Task.adapter``, under tvdeploy.tasks) that owns the torch
side: preprocessing to ``.dat``, example inputs, the export wrapper, decoding outputs into a
prediction record and the parity metric. The C++ programs accept exactly these names for
``--task`` (tests/cpp/test_cpp_cli.py); config/models.tsv names one per model (its schema's enum is
checked against this table by tests/registry/test_registry.py).
"""

from __future__ import annotations

from dataclasses import dataclass

# What one model call takes.
IMAGE = "image"  # one image, batched along N
IMAGE_LIST = "image list"  # a list of images, each its own size
CLIP = "clip"  # consecutive video frames
IMAGE_PAIR = "image pair"  # two images (optical flow)


@dataclass(frozen=True)
class Unsupported:
    """A deployment that cannot run a task, refused up front with its reason (``None`` matches
    every runtime, variant or device)."""

    why: str
    runtime: str | None = None
    variant: str | None = None
    device: str | None = None

    def matches(self, runtime: str, variant: str, device: str) -> bool:
        return all(
            want is None or want == got
            for want, got in zip((self.runtime, self.variant, self.device), (runtime, variant, device), strict=True)
        )


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    # The torchvision.models submodules list_models(module=...) takes its models from.
    torchvision_modules: tuple[str, ...]
    # The weights' transforms() preset class its inputs are preprocessed with.
    preset: str
    input_kind: str
    # Axis letters of each model input as the .dat sidecar records them.
    input_layout: str
    # Names of the model's inputs and plain outputs in exported graphs (ONNX, OpenVINO IR).
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    outputs: str
    parity_metric: str
    accuracy_metric: str
    higher_is_better: bool
    # The data set the weights publish accuracy_metric on (torchvision's _metrics key), for the
    # axis and tables that show it.
    accuracy_dataset: str
    # Whether inputs stack along a batch axis (a list of differently sized images does not).
    batches: bool
    # The adapter module (tvdeploy.tasks.<name>).
    adapter: str
    unsupported: tuple[Unsupported, ...] = ()
    # The example input's (H, W) (exports, parity on random input, memory estimates) where the
    # preset fixes no size: it neither resizes nor crops, and the weights name none (optical flow,
    # detection). None: the example follows the preset's resize and crop (tvdeploy.catalog.sheet).
    example_size: tuple[int, int] | None = None
    # Whether its outputs name classes: its models then have a labels file (category names, one
    # per line, paths.LABELS) that decoding reads; optical flow's has none, and is given none.
    has_labels: bool = True
    # Whether the report draws what its deployments produced on a real input (paths.OUTPUT_PICTURE,
    # the adapter's ``draw_prediction``): classification's top-5 already reads in the tables, and a
    # picture per classifier (80 of them) would bury the others.
    output_picture: bool = True

    def refusal(self, runtime: str, variant: str, device: str) -> str | None:
        """Why this task cannot run on (runtime, variant, device), or None when it can."""
        return next((u.why for u in self.unsupported if u.matches(runtime, variant, device)), None)


CLASSIFICATION = "classification"
SEGMENTATION = "segmentation"
VIDEO_CLASSIFICATION = "video"
OPTICAL_FLOW = "optical_flow"
DETECTION = "detection"

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            CLASSIFICATION,
            "image classification: one label per image",
            # The eager-quantized classifiers are rows of this task with their own builder
            # (tvdeploy.catalog.models): same preset, same outputs, CPU only.
            torchvision_modules=("torchvision.models", "torchvision.models.quantization"),
            preset="ImageClassification",
            input_kind=IMAGE,
            input_layout="NCHW",
            input_names=("input",),
            output_names=("logits",),
            outputs="logits [N, num_classes]",
            parity_metric="max |Δlogit| within tolerance of the logits' scale, and equal top-5",
            accuracy_metric="acc@1",
            higher_is_better=True,
            # The eager-quantized classifiers publish theirs on it too.
            accuracy_dataset="ImageNet-1K",
            batches=True,
            adapter="tvdeploy.tasks.classification",
            output_picture=False,
        ),
        Task(
            SEGMENTATION,
            "semantic segmentation: one class per pixel",
            torchvision_modules=("torchvision.models.segmentation",),
            preset="SemanticSegmentation",
            input_kind=IMAGE,
            input_layout="NCHW",
            input_names=("input",),
            # The models return a dict; deployed is its "out" alone (never the training-only "aux").
            output_names=("out",),
            outputs="logits [N, num_classes, H, W] (the dict's 'out'), H, W those of the input",
            parity_metric=(
                "max |Δlogit| within tolerance of the logits' scale, and the share of pixels whose "
                "argmax class agrees (not discriminating where the reference's argmax is one class)"
            ),
            accuracy_metric="mIoU",
            higher_is_better=True,
            accuracy_dataset="COCO val2017, VOC labels",
            # Images of different sizes give different H, W: a batch repeats one image.
            batches=True,
            adapter="tvdeploy.tasks.segmentation",
        ),
        Task(
            VIDEO_CLASSIFICATION,
            "video classification: one action label per clip",
            torchvision_modules=("torchvision.models.video",),
            preset="VideoClassification",
            input_kind=CLIP,
            # The preset returns [B, C, T, H, W]: time after the channels.
            input_layout="NCTHW",
            input_names=("input",),
            output_names=("logits",),
            outputs="logits [N, num_classes] (Kinetics-400: 400)",
            # Same logits contract as classification: its adapter's parity functions are reused.
            parity_metric="max |Δlogit| within tolerance of the logits' scale, and equal top-5",
            accuracy_metric="acc@1",
            higher_is_better=True,
            accuracy_dataset="Kinetics-400",
            batches=True,
            adapter="tvdeploy.tasks.video",
        ),
        Task(
            OPTICAL_FLOW,
            "optical flow: the motion of every pixel from a first image to a second",
            torchvision_modules=("torchvision.models.optical_flow",),
            preset="OpticalFlow",
            input_kind=IMAGE_PAIR,
            # Two inputs per call, in forward's order (img1, img2), each a .dat of its own.
            input_layout="NCHW",
            input_names=("image1", "image2"),
            # RAFT returns one flow per refinement step; deployed is the last one alone.
            output_names=("flow",),
            outputs="flow [N, 2, H, W] in pixels (u, v), H, W those of the inputs (the last of RAFT's list)",
            parity_metric=(
                "end-point error (per-pixel L2 of the flows' difference: mean and max, px) within "
                "tolerance of the reference flow's mean magnitude (not discriminating where the "
                "reference flow is one constant vector everywhere)"
            ),
            # Average end-point error on Sintel as the weights publish it (px): lower is better.
            accuracy_metric="EPE",
            higher_is_better=False,
            # The first Sintel pass the weights publish: raft_large's C_T_SKHT_V2 its test split,
            # raft_small's C_T_V2 its train split (torchvision optical_flow/raft.py).
            accuracy_dataset="Sintel clean pass (train or test split by weights)",
            # Both images of a call share N: a batch repeats one pair.
            batches=True,
            adapter="tvdeploy.tasks.optical_flow",
            # The shipped pair's size (data/pairs): landscape, so that H/W mix-ups show, and valid
            # for RAFT (multiples of 8, at least 128).
            example_size=(192, 256),
            # A flow names no classes: no labels file is written or passed.
            has_labels=False,
        ),
        Task(
            DETECTION,
            "object detection, instance segmentation and keypoints: boxes, labels and scores per image",
            torchvision_modules=("torchvision.models.detection",),
            preset="ObjectDetection",
            input_kind=IMAGE_LIST,
            # One image per call, its own size (the models resize and normalise inside).
            input_layout="CHW",
            input_names=("image",),
            # Mask R-CNN adds "masks", Keypoint R-CNN "keypoints" and "keypoints_scores".
            output_names=("boxes", "labels", "scores"),
            outputs=(
                "per image: boxes [K, 4] (xyxy), labels [K], scores [K]; masks [K, 1, H, W] or "
                "keypoints [K, 17, 3] and keypoints_scores [K, 17] where the model gives them"
            ),
            parity_metric=(
                "detections matched by IoU among equal labels (Hungarian): the share matched, the "
                "matched boxes' and masks' IoU, score differences and keypoint distances (not "
                "discriminating where the reference has no detection)"
            ),
            accuracy_metric="box_map",
            higher_is_better=True,
            accuracy_dataset="COCO val2017",
            # A list of differently sized images: one image per call.
            batches=False,
            adapter="tvdeploy.tasks.detection",
            # A VGA photo, landscape: the models resize it inside to their own size.
            example_size=(480, 640),
        ),
    )
}


def task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task '{name}' (known: {', '.join(TASKS)})") from None
