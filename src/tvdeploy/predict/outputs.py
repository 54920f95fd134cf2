"""Large outputs of a prediction record (a segmentation map is 21×520×520 floats: 5.7 M numbers of
JSON) go to raw ``.dat`` files with sidecars beside the record; the record keeps a reference.

An adapter's ``predict`` marks such a field by returning a ``TensorOutput`` for it; small outputs
(classification's logits) stay JSON lists, as the C++ ``infer`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tvdeploy.inputs.dat import read_dat, sidecar_path, write_dat


@dataclass(frozen=True)
class TensorOutput:
    """An output tensor to be stored as a ``.dat`` (axes named by ``layout``, e.g. ``CHW``)."""

    tensor: torch.Tensor
    layout: str


def output_dat_path(record_path: str | Path, index: int, field: str) -> Path:
    record_path = Path(record_path)
    return record_path.with_name(f"{record_path.stem}.{index}.{field}.dat")


def store_tensor_outputs(results: list[dict], record_path: str | Path) -> list[dict]:
    """``results`` with every TensorOutput written beside ``record_path`` (before the record
    itself is written, so a record that exists has its files) and replaced by a reference:
    ``{"dat": file name, "shape": [...], "layout": ...}``."""
    stored = []
    for index, entry in enumerate(results):
        converted = {}
        for field, value in entry.items():
            if isinstance(value, TensorOutput):
                dat = output_dat_path(record_path, index, field)
                write_dat(value.tensor.float(), dat, value.layout, {"field": field, "input": entry.get("input")})
                value = {"dat": dat.name, "shape": list(value.tensor.shape), "layout": value.layout}
            converted[field] = value
        stored.append(converted)
    return stored


# The keys of a stored reference (store_tensor_outputs).
REFERENCE_KEYS = frozenset({"dat", "shape", "layout"})


def is_tensor_reference(value) -> bool:
    return isinstance(value, dict) and set(value) == REFERENCE_KEYS


def stored_outputs(record_path: str | Path, record: dict) -> list[Path]:
    """The ``.dat`` files (and their sidecars) a prediction record refers to, beside it."""
    record_path = Path(record_path)
    files = []
    for entry in record.get("results", []):
        for value in entry.values():
            if is_tensor_reference(value):
                dat = record_path.with_name(value["dat"])
                files += [dat, sidecar_path(dat)]
    return files


def resolve_tensor_outputs(record: dict, record_path: str | Path) -> dict:
    """``record`` (read from ``record_path``) with every stored reference replaced by its tensor,
    so that a task's ``compare_predictions`` reads one object whatever its outputs' sizes."""
    results = [
        {field: load_tensor_output(record_path, v) if is_tensor_reference(v) else v for field, v in entry.items()}
        for entry in record.get("results", [])
    ]
    return {**record, "results": results}


def load_tensor_output(record_path: str | Path, reference: dict) -> torch.Tensor:
    """The tensor a stored reference points to (checked against its sidecar)."""
    tensor = read_dat(Path(record_path).with_name(reference["dat"]))
    if list(tensor.shape) != reference["shape"]:
        raise ValueError(f"{reference['dat']}: shape {list(tensor.shape)}, the record says {reference['shape']}")
    return tensor
