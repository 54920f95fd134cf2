"""Whether a preprocessed input fits a model, read from its sidecar alone (torch-free), so that a
``.dat`` of the wrong layout, channel count or (for a model with a fixed crop) size is refused with
a clear error naming the file before any byte of it is read or any runtime is loaded. A model whose
preset does not crop (segmentation) takes any H and W: only its layout and channels are checked."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tvdeploy.registry.tasks import task


class InputMismatchError(ValueError):
    """A preprocessed input does not fit the model it is fed to."""


def expected_input(info) -> dict:
    """What the inputs of the model of catalog row ``info`` must be: its task's axis layout, and the
    axes of fixed size (channels, one per normalisation mean; a video model's T, its clip length;
    H and W where the preset crops)."""
    axes = {"C": len(info.mean)}
    if info.clip_len is not None:
        axes["T"] = info.clip_len
    if info.fixed_input_size:
        height, width = info.input_shape[-2:]
        axes.update(H=height, W=width)
    return {"model": info.model, "layout": task(info.task).input_layout, "axes": axes}


def _sidecar(dat: Path) -> dict:
    sidecar = dat.with_suffix(".json")
    try:
        return json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise InputMismatchError(f"cannot read sidecar {sidecar} of {dat}: {err}") from err


def check_inputs_fit(dats: Iterable[str | Path], model: str, layout: str, axes: dict[str, int]) -> None:
    """InputMismatchError naming the first ``.dat`` whose sidecar's layout is not ``layout`` or whose
    axes named in ``axes`` have other sizes (``expected_input`` gives the three arguments)."""
    for dat in map(Path, dats):
        meta = _sidecar(dat)
        got_layout, shape = meta.get("layout"), meta.get("shape")
        if got_layout != layout:
            raise InputMismatchError(f"{dat}: layout {got_layout!r}, but {model} takes {layout}")
        if not (isinstance(shape, list) and len(shape) == len(layout)):
            raise InputMismatchError(f"{dat}: shape {shape!r} does not have the {len(layout)} axes of {layout}")
        sizes = dict(zip(layout, shape, strict=True))
        wrong = {axis: sizes[axis] for axis, size in axes.items() if sizes[axis] != size}
        if wrong:
            got = ", ".join(f"{axis}={size}" for axis, size in wrong.items())
            want = ", ".join(f"{axis}={axes[axis]}" for axis in wrong)
            raise InputMismatchError(
                f"{dat}: shape {shape} ({layout}) has {got}, but {model} takes {want}"
                + ("" if "H" in axes else " (H and W follow the image)")
            )
