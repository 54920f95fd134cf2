"""Harness of ``ts-python``: a TorchScript file loaded with torch.jit.load, with its variant's
load transform applied exactly as the C++ programs apply it; an eager-quantized model's engine is
selected before loading, as the C++ programs' --quantized-engine does."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models import list_models

from tvdeploy.build.load import load_torchscript
from tvdeploy.catalog.models import check_quantized_device, select_quantized_engine
from tvdeploy.registry import VARIANTS


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain"):
    # The file of a torchvision model selects its quantized engine first; any other TorchScript
    # file (harness_overhead's probe, a hand-made model) loads as it is.
    if model in list_models():
        check_quantized_device(model, device)
        select_quantized_engine(model)
    return load_torchscript(artifact, device, VARIANTS[variant].load_transform)
