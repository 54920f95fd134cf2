"""Stage inputs: the user's images, video clips and optical-flow image pairs turned into ``.dat``
tensors with JSON sidecars that both the Python harnesses and the C++ programs read (dat, images,
video, pairs)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def input_name(dat_path: str | Path) -> str:
    """The name of the user's input a ``.dat`` was made from (its stem): how predictions of
    different runtimes on the same input are matched."""
    return Path(dat_path).stem


def input_sha256(path: str | Path) -> str:
    """The sha256 of a user's input: a file's bytes, or for a frame folder the digest of its
    frames' names and digests in name order (what read_clip takes from it)."""
    from tvdeploy.catalog.weights import sha256_of

    path = Path(path)
    if not path.is_dir():
        return sha256_of(path)
    digest = hashlib.sha256()
    for frame in sorted(p for p in path.iterdir() if not p.name.startswith(".")):
        digest.update(f"{frame.name}\0{input_sha256(frame)}\n".encode())
    return digest.hexdigest()
