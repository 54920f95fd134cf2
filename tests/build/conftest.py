"""Fixtures of the build tests: a small residual classifier and the shipped images preprocessed
small, what the int8 paths quantize and calibrate on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from toy_models import residual_classifier

from tvdeploy.inputs.dat import write_dat
from tvdeploy.tasks import classification

IMAGES = Path(__file__).resolve().parents[2] / "data" / "images"
# Small enough to quantize in seconds; the images keep their content.
SPEC = {"resize_size": 40, "crop_size": 32, "interpolation": "bilinear", "antialias": True,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}  # fmt: skip


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    """Each shipped image as one model call's .dat files (a list of one), in name order."""
    folder = tmp_path_factory.mktemp("calibration")
    images = sorted(p for p in IMAGES.iterdir() if p.suffix in (".png", ".jpg"))
    paths = []
    for image in images:
        (tensor,) = classification.preprocess(image, SPEC)
        write_dat(tensor, folder / f"{image.stem}.dat", "NCHW", {"image": str(image)})
        paths.append([folder / f"{image.stem}.dat"])
    return paths


@pytest.fixture(scope="module")
def net() -> torch.nn.Module:
    return residual_classifier(0)
