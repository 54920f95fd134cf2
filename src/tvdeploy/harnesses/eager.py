"""Harness of ``eager``: the torchvision nn.Module rebuilt from its weights file."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.catalog.models import build_model, check_quantized_device


def load(artifact: str | Path, model: str, device: torch.device, variant: str = "plain") -> torch.nn.Module:
    check_quantized_device(model, device)
    return build_model(model, artifact).to(device)
