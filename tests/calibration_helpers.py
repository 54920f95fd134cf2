"""What the int8 tests quantize and calibrate on: the shipped images preprocessed small, one
model call each (tests/build/test_int8.py)."""

from __future__ import annotations

from pathlib import Path

from tvdeploy.inputs.dat import write_dat
from tvdeploy.tasks import classification

IMAGES = Path(__file__).resolve().parents[1] / "data" / "images"
# Small enough to quantize in seconds; the images keep their content.
SPEC = {"resize_size": 40, "crop_size": 32, "interpolation": "bilinear", "antialias": True,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # fmt: skip


def shipped_image_calls(folder: Path) -> list[list[Path]]:
    """Each shipped image preprocessed into ``folder`` as one model call's .dat files (a list of
    one), in name order."""
    images = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))
    paths = []
    for image in images:
        (tensor,) = classification.preprocess(image, SPEC)
        write_dat(tensor, folder / f"{image.stem}.dat", "NCHW", {"image": str(image)})
        paths.append([folder / f"{image.stem}.dat"])
    return paths
