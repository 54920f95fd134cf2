"""Stage inputs: the user's images (and later clips and pairs) turned into ``.dat`` tensors with
JSON sidecars that both the Python harnesses and the C++ programs read (dat, images)."""

from __future__ import annotations

from pathlib import Path


def input_name(dat_path: str | Path) -> str:
    """The name of the user's input a ``.dat`` was made from (its stem): how predictions of
    different runtimes on the same input are matched."""
    return Path(dat_path).stem
