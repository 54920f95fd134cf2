"""Optical-flow inputs: image pairs read from files or taken from two consecutive frames of a clip,
fitted to what RAFT accepts, and preprocessed with the OpticalFlow preset.

Pair folder convention: a pair named ``<name>`` is the two files ``<name>_1.<ext>`` (first image)
and ``<name>_2.<ext>`` (second image), each of any image format Pillow reads; the flow goes from
the first to the second. Files whose stem ends in neither ``_1`` nor ``_2`` (a README) are not
pair members; a member without its partner is refused.

RAFT's sizes (torchvision 0.29.1 ``optical_flow/raft.py``): ``RAFT.forward`` refuses H or W not a
multiple of 8 and two images of different sizes; its correlation pyramid (4 levels on the 1/8
feature map) refuses H or W below 8 · 2 · 2³ = 128. The OpticalFlow preset neither resizes nor
crops (it only maps [0, 255] to [-1, 1]), so sizes are checked here, naming the files: an image
under 128 px on a side is refused; a side that is not a multiple of 8 is refused under the size
policy ``refuse`` (the default) or center-cropped to the largest multiple of 8 under
``center_crop``, the crop box recorded in the pair's metadata (the flow then describes the crop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.transforms._presets import OpticalFlow

from tvdeploy.files import atomic_path
from tvdeploy.inputs.images import load_rgb_image

# The folder convention and its lister are torch-free (the plan lists pairs while parsing).
from tvdeploy.inputs.pair_folder import PAIR_MEMBER_SUFFIXES, PairReadError, PairSource, list_pair_folder
from tvdeploy.inputs.video import Clip, panned_frames

__all__ = [
    "PAIR_MEMBER_SUFFIXES", "ImagePair", "PairReadError", "PairSource", "list_pair_folder", "pair_from_clip",
    "preprocess_pair", "read_image_pair", "write_test_pair",
]  # fmt: skip

RAFT_MIN_SIDE = 128
RAFT_SIDE_MULTIPLE = 8
SIZE_POLICIES = ("refuse", "center_crop")
# Axis letters of the two model inputs preprocess_pair returns (the .dat layouts).
FLOW_INPUT_LAYOUTS = ("NCHW", "NCHW")


@dataclass(frozen=True)
class ImagePair:
    """``first``, ``second``: uint8 ``[C, H, W]`` RGB of one size; ``metadata``: where they came
    from, their size before and after fitting, the size policy and the crop box (or None)."""

    first: torch.Tensor
    second: torch.Tensor
    metadata: dict = field(default_factory=dict)


def _fit_raft_size(first: torch.Tensor, second: torch.Tensor, names: tuple[str, str], size_policy: str) -> ImagePair:
    if size_policy not in SIZE_POLICIES:
        raise ValueError(f"size_policy {size_policy!r} is not one of {SIZE_POLICIES}")
    (_, h1, w1), (_, h2, w2) = first.shape, second.shape
    if (h1, w1) != (h2, w2):
        raise PairReadError(f"the images of a pair differ in size: {names[0]} is {w1}×{h1}, {names[1]} is {w2}×{h2}")
    if h1 < RAFT_MIN_SIDE or w1 < RAFT_MIN_SIDE:
        raise PairReadError(
            f"{names[0]} (and {names[1]}) is {w1}×{h1}: RAFT needs at least {RAFT_MIN_SIDE} px on each side"
        )
    height, width = h1 - h1 % RAFT_SIDE_MULTIPLE, w1 - w1 % RAFT_SIDE_MULTIPLE
    crop = None
    if (height, width) != (h1, w1):
        if size_policy == "refuse":
            raise PairReadError(
                f"{names[0]} (and {names[1]}) is {w1}×{h1}: RAFT needs sides that are multiples of "
                f"{RAFT_SIDE_MULTIPLE} (size_policy 'center_crop' would crop to {width}×{height})"
            )
        top, left = (h1 - height) // 2, (w1 - width) // 2
        crop = {"top": top, "left": left, "height": height, "width": width}
        first, second = (img[:, top : top + height, left : left + width].contiguous() for img in (first, second))
    metadata = {"original_size": [h1, w1], "size": [height, width], "size_policy": size_policy, "crop": crop}
    return ImagePair(first, second, metadata)


def _chw(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()


def read_image_pair(first: str | Path, second: str | Path, size_policy: str = "refuse") -> ImagePair:
    """Two image files as a pair fitted to RAFT's sizes (ImageReadError names an unreadable one)."""
    images = _chw(load_rgb_image(first)), _chw(load_rgb_image(second))
    pair = _fit_raft_size(*images, (str(first), str(second)), size_policy)
    return ImagePair(pair.first, pair.second, {"first": str(first), "second": str(second), **pair.metadata})


def pair_from_clip(clip: Clip, index: int = 0, size_policy: str = "refuse") -> ImagePair:
    """Frames ``index`` and ``index + 1`` of a clip (positions in the clip) as a pair."""
    count = clip.frames.shape[0]
    if not 0 <= index < count - 1:
        raise ValueError(f"a pair at clip frame {index} needs frames {index} and {index + 1}; the clip has {count}")
    source = clip.metadata.get("source", "clip")
    absolute = clip.metadata.get("frame_indices", list(range(count)))[index : index + 2]
    names = (f"{source} frame {absolute[0]}", f"{source} frame {absolute[1]}")
    pair = _fit_raft_size(clip.frames[index], clip.frames[index + 1], names, size_policy)
    return ImagePair(pair.first, pair.second, {"source": source, "frame_indices": absolute, **pair.metadata})


def preprocess_pair(pair: ImagePair) -> tuple[torch.Tensor, torch.Tensor]:
    """A pair through the OpticalFlow preset (it has no parameters: every RAFT weights' preset is
    the same), each image a batch of one: float32 ``[1, 3, H, W]`` in [-1, 1] (FLOW_INPUT_LAYOUTS)."""
    first, second = OpticalFlow()(pair.first.unsqueeze(0), pair.second.unsqueeze(0))
    return first, second


def write_test_pair(
    folder: str | Path,
    image_path: str | Path,
    name: str,
    *,
    size: tuple[int, int] = (256, 192),
    shift: tuple[int, int] = (4, 2),
) -> PairSource:
    """The first two panned_frames of ``image_path`` as ``<name>_1.png`` and ``<name>_2.png``
    (lossless, so the flow from the first to the second is exactly (-dx, -dy) where both see)."""
    folder = Path(folder)
    paths = [folder / f"{name}{suffix}.png" for suffix in PAIR_MEMBER_SUFFIXES]
    for pixels, path in zip(panned_frames(load_rgb_image(image_path), size, shift, 2), paths, strict=True):
        with atomic_path(path, suffix=".png") as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG", optimize=True)
    return PairSource(name, *paths)
