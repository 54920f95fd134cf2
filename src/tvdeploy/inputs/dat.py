"""Raw tensors on disk: ``X.dat`` (little-endian float32) described by its JSON sidecar ``X.json``
(shape, dtype, layout, and what produced it), the format both the Python harnesses and the C++
programs read."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from tvdeploy.files import atomic_path, write_json_atomic

DAT_DTYPE = "float32"


BYTES_PER_FLOAT32 = 4


class DatFormatError(ValueError):
    """A ``.dat`` file does not match its sidecar."""


def sidecar_path(dat_path: str | Path) -> Path:
    return Path(dat_path).with_suffix(".json")


def write_dat(tensor: torch.Tensor, dat_path: str | Path, layout: str, metadata: dict) -> None:
    """Write ``tensor`` as raw little-endian float32 and its sidecar, each atomically; ``layout``
    names its axes (one letter each, e.g. ``NCHW``), so readers of any rank know what they hold.

        The sidecar is written last, so a reader that finds it also finds a complete ``.dat``.
    """
    if not (layout.isalpha() and layout.isupper() and len(set(layout)) == len(layout)):
        raise ValueError(f"layout {layout!r} is not distinct axis letters (e.g. NCHW)")
    if tensor.ndim != len(layout):
        raise ValueError(f"a rank-{tensor.ndim} tensor cannot have layout {layout!r}")
    array = tensor.detach().cpu().contiguous().numpy().astype("<f4", copy=False)
    sidecar = {
        "shape": list(array.shape),
        "dtype": DAT_DTYPE,
        "layout": layout,
        "byte_order": "little",
        **metadata,
    }
    with atomic_path(dat_path) as tmp:
        array.tofile(tmp)
    write_json_atomic(sidecar_path(dat_path), sidecar)


def read_dat(dat_path: str | Path) -> torch.Tensor:
    """Read a ``.dat`` after checking its size against the sidecar's shape."""
    dat_path = Path(dat_path)
    meta_path = sidecar_path(dat_path)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise DatFormatError(f"cannot read sidecar {meta_path} of {dat_path}: {err}") from err
    shape = meta.get("shape")
    if meta.get("dtype") != DAT_DTYPE:
        raise DatFormatError(f"{meta_path}: dtype {meta.get('dtype')!r}, expected {DAT_DTYPE!r}")
    layout = meta.get("layout")
    if not (isinstance(shape, list) and shape and all(isinstance(d, int) and d > 0 for d in shape)):
        raise DatFormatError(f"{meta_path}: shape {shape!r} is not a list of positive integers")
    if not (isinstance(layout, str) and len(layout) == len(shape)):
        raise DatFormatError(f"{meta_path}: layout {layout!r} does not name the {len(shape)} axes of shape {shape}")
    expected = math.prod(shape) * BYTES_PER_FLOAT32
    actual = dat_path.stat().st_size
    if actual != expected:
        raise DatFormatError(
            f"{dat_path}: {actual} bytes, but shape {shape} in {meta_path.name} needs {expected} bytes"
        )
    array = np.fromfile(dat_path, dtype="<f4").reshape(shape)
    return torch.from_numpy(array.astype(np.float32, copy=False))
