"""Harness of ``ts-python``: a TorchScript file loaded with torch.jit.load, with its variant's
load transform applied exactly as the C++ programs apply it."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.build.load import load_torchscript
from tvdeploy.registry import VARIANTS


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    return load_torchscript(artifact, device, VARIANTS[variant].load_transform)
