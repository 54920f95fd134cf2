"""The model catalog: every torchvision model of a registered task and what its weights declare.

The catalog is generated from torchvision's weights API into a tab-separated sheet
(``config/models.tsv``) so that parsing the workflow never imports torch. Reading the
sheet uses only the standard library; generating it imports torchvision.

Regenerate after upgrading torchvision:

    python -m tvdeploy.catalog.sheet config/models.tsv
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import math
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from tvdeploy.registry.tasks import CLIP, TASKS, task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torch.hub's convention: the file name carries the first hex digits of the sha256 after a dash.
HASH_PREFIX_REGEX = re.compile(r"-([a-f0-9]+)\.")
# A preset without a crop (SemanticSegmentation) resizes an image's shorter side and keeps its
# aspect, so the model's input follows the image. Its example input (exports, parity on random
# input, memory estimates) is a landscape 3:4 photo of that shorter side: unequal sides show H/W
# mix-ups, and the long side is rounded up (520 -> 520 x 694).
NO_CROP_EXAMPLE_ASPECT = 4 / 3
# The spec id's word for "no crop" (r520_nocrop_bilinear_in1k).
NO_CROP = "nocrop"
# A video model's clip length is not in its preset: torchvision documents the clip length its
# accuracy was measured with in the weights' _docs ("... and `clip_len=16`"), and some weights
# declare the least frames they take (meta min_temporal_size: s3d 14, mvit 16). The sheet takes
# the documented length, capped at MAX_CLIP_LEN: s3d's is 128 (one clip per video), 4x the frames
# and memory of the others for a model that takes any length from 14 on, and more frames than the
# shipped test clip holds (32).
DOCUMENTED_CLIP_LEN = re.compile(r"clip_len=(\d+)")
MAX_CLIP_LEN = 32
# The sheet cell of a resize to exactly [H, W] (the ResNet-3Ds' 128x171), as opposed to one
# number, which resizes the shorter side.
RESIZE_SEPARATOR = "x"
# The spec id's word for "no resize": the input keeps its image's size (optical flow; detectors
# resize inside the model).
NO_RESIZE = "full"
# Presets that only convert and scale, with no attributes to read: what they do to a [0, 255]
# image, as (mean, std) of a normalisation after mapping it to [0, 1] (torchvision 0.29.1
# transforms/_presets.py: ObjectDetection converts to float alone; OpticalFlow normalises to
# [-1, 1]). tests/catalog/test_catalog.py checks both against the presets themselves.
FIXED_PRESET_NORMALISATION = {
    "ObjectDetection": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "OpticalFlow": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}


class UnknownModelError(ValueError):
    """A requested model name is not in the catalog."""


@dataclass(frozen=True)
class ModelInfo:
    model: str
    task: str  # a tvdeploy.registry.TASKS name
    weights: str  # e.g. "ResNet50_Weights.IMAGENET1K_V2", the DEFAULT weights enum member
    url: str
    sha256_prefix: str
    # One number: the shorter side; two (video's ResNet-3Ds: (128, 171)): exactly (H, W); None:
    # the preset does not resize (optical flow, detection: the input keeps its image's size).
    resize_size: int | tuple[int, int] | None
    crop_size: int | None  # None: the preset does not crop (its cell is empty)
    interpolation: str  # torchvision InterpolationMode value: "bilinear", "bicubic", ...; "" without a resize
    antialias: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_params: int
    gflops: float
    file_size_mb: float
    # The task's accuracy metric (its registry entry's accuracy_metric) as the weights publish it.
    metric: str
    metric_value: float
    num_classes: int
    # The quantized-operator engine an eager-quantized model's weights were packed for (their
    # meta "backend": fbgemm, qnnpack); "" for a float model. Such a model runs on the CPU only.
    quantized_engine: str = ""
    # The frames of one clip of a video model (None for an image model; see DOCUMENTED_CLIP_LEN).
    clip_len: int | None = None
    # The float weights an eager-quantized model's were made from (their meta "unquantized", e.g.
    # "MobileNet_V2_Weights.IMAGENET1K_V1"; not always the float model's DEFAULT); "" for a float model.
    unquantized_weights: str = ""

    @property
    def quantized(self) -> bool:
        return bool(self.quantized_engine)

    @property
    def spec_id(self) -> str:
        return preprocess_spec_id(
            self.resize_size, self.crop_size, self.interpolation, self.antialias, self.mean, self.std, self.clip_len
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The example input's shape: NCHW of the crop, or without a crop the shorter side at
        NO_CROP_EXAMPLE_ASPECT (a real input's H and W then follow its image), or without a resize
        the task's example size; a video model's NCTHW, T its clip length."""
        if self.resize_size is None:
            return (1, 3, *task(self.task).example_size)
        if self.clip_len is not None:
            return (1, 3, self.clip_len, self.crop_size, self.crop_size)
        if self.crop_size is None:
            return (1, 3, self.resize_size, math.ceil(self.resize_size * NO_CROP_EXAMPLE_ASPECT))
        return (1, 3, self.crop_size, self.crop_size)

    @property
    def fixed_input_size(self) -> bool:
        """Whether every input has input_shape's H and W (a crop), or follows its image."""
        return self.crop_size is not None

    def preprocess_spec(self) -> dict:
        """How an input is preprocessed for this model: its task (whose adapter preprocesses) and
        the preset's parameters from its weights (``crop_size`` only where the preset crops)."""
        resize = (
            {}
            if self.resize_size is None
            else {
                "resize_size": list(self.resize_size) if isinstance(self.resize_size, tuple) else self.resize_size,
                **({} if self.crop_size is None else {"crop_size": self.crop_size}),
                **({} if self.clip_len is None else {"clip_len": self.clip_len}),
                "interpolation": self.interpolation,
                "antialias": self.antialias,
            }
        )
        return {
            "task": self.task,
            **resize,
            "mean": list(self.mean),
            "std": list(self.std),
        }


COLUMNS = [f.name for f in fields(ModelInfo)]


def preprocess_spec_id(resize, crop, interpolation, antialias, mean, std, clip_len=None) -> str:
    """A readable, stable name for one preprocessing recipe; equal recipes share it. ``crop`` None:
    no crop (``r520_nocrop_bilinear_in1k``); ``resize`` (H, W): an exact resize
    (``r128x171_c112_t16_...``); ``clip_len``: a video recipe's frames (``_t16``); ``resize``
    None: no resize and so no interpolation (``full_nocrop_n1a2b3c4d``)."""
    norm = (
        "in1k"
        if (tuple(mean), tuple(std)) == (IMAGENET_MEAN, IMAGENET_STD)
        else ("n" + hashlib.sha1(repr((tuple(mean), tuple(std))).encode()).hexdigest()[:8])
    )
    aa = "" if antialias else "_noaa"
    cropped = NO_CROP if crop is None else f"c{crop}"
    frames = "" if clip_len is None else f"_t{clip_len}"
    if resize is None:
        return f"{NO_RESIZE}_{cropped}{frames}_{norm}"
    return f"r{resize_cell(resize)}_{cropped}{frames}_{interpolation}_{norm}{aa}"


def resize_cell(resize: int | tuple[int, int] | None) -> str:
    """The sheet's (and spec id's) text of a resize: ``232``, ``128x171``, or empty for none."""
    if resize is None:
        return ""
    return RESIZE_SEPARATOR.join(map(str, resize)) if isinstance(resize, tuple) else str(resize)


def parse_resize(cell: str) -> int | tuple[int, int] | None:
    if not cell:
        return None
    parts = tuple(int(x) for x in cell.split(RESIZE_SEPARATOR))
    return parts[0] if len(parts) == 1 else parts


def _resize(value) -> int | tuple[int, int]:
    """A preset's resize_size: one number (the shorter side) as an int, two as (H, W)."""
    sizes = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else (int(value),)
    return sizes[0] if len(sizes) == 1 else sizes


def documented_clip_len(meta: dict) -> int:
    """The clip length a video model's weights were evaluated with (their _docs), capped at
    MAX_CLIP_LEN but never below the frames they need (min_temporal_size)."""
    match = DOCUMENTED_CLIP_LEN.search(meta.get("_docs", ""))
    if match is None:
        raise ValueError(f"video weights document no clip_len: {meta.get('_docs', '')!r}")
    return max(min(int(match.group(1)), MAX_CLIP_LEN), int(meta.get("min_temporal_size") or 1))


def sha256_prefix_from_url(url: str) -> str:
    match = HASH_PREFIX_REGEX.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else ""


def _single(value) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def published_metric(meta: dict, metric: str) -> float:
    """``metric`` from the weights' ``_metrics`` (keyed by evaluation data set), NaN where absent.
    Names match regardless of case: the registry's ``mIoU`` is torchvision's ``miou``."""
    for scores in meta.get("_metrics", {}).values():
        for name, value in scores.items():
            if name.lower() == metric.lower():
                return float(value)
    return float("nan")


def weights_name(weights) -> str:
    """A weights enum member's sheet name: ``ResNet50_Weights.IMAGENET1K_V2``."""
    return f"{type(weights).__name__}.{weights.name}"


def info_from_weights(model: str, task_name: str, weights) -> ModelInfo:
    """Build a catalog row from a torchvision weights enum member."""
    transform = weights.transforms()
    meta = weights.meta
    metric = task(task_name).accuracy_metric
    video = task(task_name).input_kind == CLIP
    # ObjectDetection and OpticalFlow neither resize nor crop and hold no parameters.
    resizes = hasattr(transform, "resize_size")
    mean, std = FIXED_PRESET_NORMALISATION.get(type(transform).__name__, (None, None))
    return ModelInfo(
        model=model,
        task=task_name,
        weights=weights_name(weights),
        url=weights.url,
        sha256_prefix=sha256_prefix_from_url(weights.url),
        resize_size=_resize(transform.resize_size) if resizes else None,
        # SemanticSegmentation has no crop_size.
        crop_size=_single(transform.crop_size) if hasattr(transform, "crop_size") else None,
        interpolation=transform.interpolation.value if resizes else "",
        # VideoClassification has no antialias: it resizes with antialias=False (vision#7160).
        antialias=bool(getattr(transform, "antialias", False)),
        mean=tuple(float(x) for x in (mean or transform.mean)),
        std=tuple(float(x) for x in (std or transform.std)),
        num_params=int(meta["num_params"]),
        gflops=float(meta.get("_ops", float("nan"))),
        file_size_mb=float(meta.get("_file_size", float("nan"))),
        metric=metric,
        metric_value=published_metric(meta, metric),
        # RAFT's weights name no categories: 0.
        num_classes=len(meta.get("categories", ())),
        quantized_engine=str(meta.get("backend", "")),
        unquantized_weights=weights_name(meta["unquantized"]) if "unquantized" in meta else "",
        clip_len=documented_clip_len(meta) if video else None,
    )


# The presets whose parameters the sheet's columns hold (resize, crop where it crops, interpolation,
# mean, std). A registered task with another preset (video: clip length) joins the sheet, and so
# the run's models, once the sheet has its columns and the workflow its inputs and outputs.
SHEET_PRESETS = ("ImageClassification", "SemanticSegmentation", "VideoClassification", "OpticalFlow", "ObjectDetection")


def catalog_from_torchvision() -> dict[str, ModelInfo]:
    """Every model torchvision lists for a registered task the sheet describes (SHEET_PRESETS), with
    its DEFAULT weights' metadata."""
    import importlib

    from torchvision.models import get_model_weights, list_models

    return {
        name: info_from_weights(name, spec.name, get_model_weights(name).DEFAULT)
        for spec in TASKS.values()
        if spec.preset in SHEET_PRESETS
        for module in spec.torchvision_modules
        for name in sorted(list_models(module=importlib.import_module(module)))
    }


def _to_cell(value) -> str:
    if isinstance(value, tuple):
        return ",".join(repr(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def write_sheet(catalog: dict[str, ModelInfo], path: str | Path) -> None:
    from tvdeploy.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for info in catalog.values():
            writer.writerow(
                [
                    resize_cell(info.resize_size) if col == "resize_size" else _to_cell(getattr(info, col))
                    for col in COLUMNS
                ]
            )


def _parse_row(row: dict[str, str]) -> ModelInfo:
    floats = lambda s: tuple(float(x) for x in s.split(","))
    return ModelInfo(
        model=row["model"],
        task=row["task"],
        weights=row["weights"],
        url=row["url"],
        sha256_prefix=row["sha256_prefix"],
        resize_size=parse_resize(row["resize_size"]),
        crop_size=int(row["crop_size"]) if row["crop_size"] else None,
        interpolation=row["interpolation"],
        antialias=row["antialias"] == "true",
        mean=floats(row["mean"]),
        std=floats(row["std"]),
        num_params=int(row["num_params"]),
        gflops=float(row["gflops"]),
        file_size_mb=float(row["file_size_mb"]),
        metric=row["metric"],
        metric_value=float(row["metric_value"]),
        num_classes=int(row["num_classes"]),
        quantized_engine=row["quantized_engine"],
        unquantized_weights=row["unquantized_weights"],
        clip_len=int(row["clip_len"]) if row["clip_len"] else None,
    )


def read_sheet(path: str | Path) -> dict[str, ModelInfo]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: model sheet lacks columns {sorted(missing)}; regenerate it")
        return {row["model"]: _parse_row(row) for row in reader}


def sheet_frame(path: str | Path):
    """The sheet as a pandas DataFrame, as its schema (workflow/schemas/models.schema.yaml)
    validates it: an empty quantized_engine (a float model) is the empty string, an empty crop_size
    (a preset without a crop), clip_len (an image model), resize_size or interpolation (a preset
    without a resize) is missing; resize_size is text (one number or HxW)."""
    import pandas as pd

    return pd.read_csv(
        path,
        sep="\t",
        keep_default_na=False,
        na_values={"crop_size": [""], "clip_len": [""], "resize_size": [""], "interpolation": [""]},
        dtype={"resize_size": str},
    )


def resolve_models(requested, catalog: dict[str, ModelInfo]) -> list[str]:
    """Expand ``all`` and validate names, suggesting the closest valid ones for typos."""
    if requested == "all" or requested == ["all"]:
        return list(catalog)
    unknown = [name for name in requested if name not in catalog]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(catalog), n=3, cutoff=0.5)
            hints.append(f"'{name}' (closest: {', '.join(close) if close else 'none'})")
        raise UnknownModelError(
            "unknown torchvision model(s): "
            + "; ".join(hints)
            + f". Valid names are listed in the model sheet ({len(catalog)} models), or use 'all'."
        )
    # Keep the user's order, drop repeats.
    return list(dict.fromkeys(requested))


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "config/models.tsv"
    catalog = catalog_from_torchvision()
    write_sheet(catalog, out)
    print(f"wrote {len(catalog)} models to {out}")
