"""Harness of ``ts-python``: a TorchScript file loaded with torch.jit.load, with its variant's
load transform applied exactly as the C++ programs apply it."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.catalog.models import apply_load_transform, quiet_torchscript_deprecation
from tvdeploy.registry import NO_TRANSFORM, VARIANTS


def load_torchscript(path: str | Path, device: torch.device, transform: str = NO_TRANSFORM):
    with quiet_torchscript_deprecation():
        module = torch.jit.load(str(path), map_location=device).eval()
    return apply_load_transform(module, transform, device)


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    return load_torchscript(artifact, device, VARIANTS[variant].load_transform)
