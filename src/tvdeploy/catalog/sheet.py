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
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from tvdeploy.registry.tasks import TASKS, task

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torch.hub's convention: the file name carries the first hex digits of the sha256 after a dash.
HASH_PREFIX_REGEX = re.compile(r"-([a-f0-9]+)\.")


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
    crop_size: int
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
        return (1, 3, self.crop_size, self.crop_size)

    def preprocess_spec(self) -> dict:
        """How an input is preprocessed for this model: its task (whose adapter preprocesses) and
        the preset's parameters from its weights."""
        return {
            "task": self.task,
            "resize_size": self.resize_size,
            "crop_size": self.crop_size,
            "interpolation": self.interpolation,
            "antialias": self.antialias,
            "mean": list(self.mean),
            "std": list(self.std),
        }


COLUMNS = [f.name for f in fields(ModelInfo)]


def preprocess_spec_id(resize, crop, interpolation, antialias, mean, std) -> str:
    """A readable, stable name for one preprocessing recipe; equal recipes share it."""
    norm = (
        "in1k"
        if (tuple(mean), tuple(std)) == (IMAGENET_MEAN, IMAGENET_STD)
        else ("n" + hashlib.sha1(repr((tuple(mean), tuple(std))).encode()).hexdigest()[:8])
    )
    aa = "" if antialias else "_noaa"
    return f"r{resize}_c{crop}_{interpolation}_{norm}{aa}"


def sha256_prefix_from_url(url: str) -> str:
    match = HASH_PREFIX_REGEX.search(url.rsplit("/", 1)[-1])
    return match.group(1) if match else ""


def _single(value) -> int:
    return int(value[0] if isinstance(value, (list, tuple)) else value)


def published_metric(meta: dict, metric: str) -> float:
    """``metric`` from the weights' ``_metrics`` (keyed by evaluation data set), NaN where absent."""
    for scores in meta.get("_metrics", {}).values():
        if metric in scores:
            return float(scores[metric])
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
        crop_size=_single(transform.crop_size),
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


# The presets whose parameters the sheet's columns hold (resize, crop, interpolation, mean, std). A
# registered task with another preset (segmentation: no crop) joins the sheet, and so the run's
# models, once the sheet has its columns and the workflow its inputs and outputs.
SHEET_PRESETS = ("ImageClassification",)


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
        crop_size=int(row["crop_size"]),
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
