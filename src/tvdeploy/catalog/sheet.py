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

from tvdeploy.registry.tasks import TASKS, task

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


class UnknownModelError(ValueError):
    """A requested model name is not in the catalog."""


@dataclass(frozen=True)
class ModelInfo:
    model: str
    task: str  # a tvdeploy.registry.TASKS name
    weights: str  # e.g. "ResNet50_Weights.IMAGENET1K_V2", the DEFAULT weights enum member
    url: str
    sha256_prefix: str
    resize_size: int
    crop_size: int | None  # None: the preset does not crop (its cell is empty)
    interpolation: str  # torchvision InterpolationMode value: "bilinear", "bicubic", ...
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

    @property
    def quantized(self) -> bool:
        return bool(self.quantized_engine)

    @property
    def spec_id(self) -> str:
        return preprocess_spec_id(
            self.resize_size, self.crop_size, self.interpolation, self.antialias, self.mean, self.std
        )

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """The example input's NCHW shape: the crop, or without a crop the shorter side at
        NO_CROP_EXAMPLE_ASPECT (a real input's H and W then follow its image)."""
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
        return {
            "task": self.task,
            "resize_size": self.resize_size,
            **({} if self.crop_size is None else {"crop_size": self.crop_size}),
            "interpolation": self.interpolation,
            "antialias": self.antialias,
            "mean": list(self.mean),
            "std": list(self.std),
        }


COLUMNS = [f.name for f in fields(ModelInfo)]


def preprocess_spec_id(resize, crop, interpolation, antialias, mean, std) -> str:
    """A readable, stable name for one preprocessing recipe; equal recipes share it. ``crop`` None:
    no crop (``r520_nocrop_bilinear_in1k``)."""
    norm = (
        "in1k"
        if (tuple(mean), tuple(std)) == (IMAGENET_MEAN, IMAGENET_STD)
        else ("n" + hashlib.sha1(repr((tuple(mean), tuple(std))).encode()).hexdigest()[:8])
    )
    aa = "" if antialias else "_noaa"
    cropped = NO_CROP if crop is None else f"c{crop}"
    return f"r{resize}_{cropped}_{interpolation}_{norm}{aa}"


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


def info_from_weights(model: str, task_name: str, weights) -> ModelInfo:
    """Build a catalog row from a torchvision weights enum member."""
    transform = weights.transforms()
    meta = weights.meta
    metric = task(task_name).accuracy_metric
    return ModelInfo(
        model=model,
        task=task_name,
        weights=f"{type(weights).__name__}.{weights.name}",
        url=weights.url,
        sha256_prefix=sha256_prefix_from_url(weights.url),
        resize_size=_single(transform.resize_size),
        # SemanticSegmentation has no crop_size.
        crop_size=_single(transform.crop_size) if hasattr(transform, "crop_size") else None,
        interpolation=transform.interpolation.value,
        antialias=bool(transform.antialias),
        mean=tuple(float(x) for x in transform.mean),
        std=tuple(float(x) for x in transform.std),
        num_params=int(meta["num_params"]),
        gflops=float(meta.get("_ops", float("nan"))),
        file_size_mb=float(meta.get("_file_size", float("nan"))),
        metric=metric,
        metric_value=published_metric(meta, metric),
        num_classes=len(meta["categories"]),
        quantized_engine=str(meta.get("backend", "")),
    )


# The presets whose parameters the sheet's columns hold (resize, crop where it crops, interpolation,
# mean, std). A registered task with another preset (video: clip length) joins the sheet, and so
# the run's models, once the sheet has its columns and the workflow its inputs and outputs.
SHEET_PRESETS = ("ImageClassification", "SemanticSegmentation")


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
            writer.writerow([_to_cell(getattr(info, col)) for col in COLUMNS])


def _parse_row(row: dict[str, str]) -> ModelInfo:
    floats = lambda s: tuple(float(x) for x in s.split(","))
    return ModelInfo(
        model=row["model"],
        task=row["task"],
        weights=row["weights"],
        url=row["url"],
        sha256_prefix=row["sha256_prefix"],
        resize_size=int(row["resize_size"]),
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
    (a preset without a crop) is missing."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values={"crop_size": [""]})


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
