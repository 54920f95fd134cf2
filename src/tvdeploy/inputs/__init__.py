"""Stage inputs: the user's images, video clips and optical-flow image pairs turned into ``.dat``
tensors with JSON sidecars that both the Python harnesses and the C++ programs read (dat, images,
video, pairs)."""

from __future__ import annotations

from pathlib import Path


def input_name(dat_path: str | Path) -> str:
    """The name of the user's input a ``.dat`` was made from (its stem): how predictions of
    different runtimes on the same input are matched."""
    return Path(dat_path).stem
