"""Adapter of the video-classification task (contract: tvdeploy.tasks): a clip (video file or frame
folder) of the model's ``clip_len`` frames through its weights' VideoClassification preset to one
``[1, C, T, H, W]`` input; everything after the model is classification's (one [N, 400] logits
tensor, top-k decoding, parity by max |Δlogit| and top-5), imported from its adapter so that the
two tasks cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import torch

from tvdeploy.inputs.video import preprocess_clip, read_clip
from tvdeploy.registry.tasks import TASKS, VIDEO_CLASSIFICATION
from tvdeploy.tasks.classification import (  # noqa: F401  (the adapter contract, re-exported)
    compare_outputs,
    compare_predictions,
    decoding_context,
    deployable,
    output_tensor,
    parity_message,
    predict,
    topk_caption,
)

TASK = TASKS[VIDEO_CLASSIFICATION]


def preprocess(source: str | Path, spec: dict) -> tuple[torch.Tensor]:
    """The first ``spec["clip_len"]`` frames of a video file or frame folder (from frame
    ``clip_start``, 0 unless the spec says) through the weights' preset, as a batch of one
    (NCTHW). A source too short, corrupt or not a video raises ClipReadError naming it."""
    clip = read_clip(source, int(spec["clip_len"]), int(spec.get("clip_start", 0)))
    return preprocess_clip(clip, spec)


def example_inputs(info, batch: int, seed: int) -> tuple[torch.Tensor]:
    """A seeded random batch of ``batch`` clips of the model's shape [B, 3, T, crop, crop]."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn((batch, *info.input_shape[1:]), generator=generator),)


def draw_prediction(entry: dict, sidecar: dict, labels: list[str] | None = None) -> tuple[torch.Tensor, str]:
    """The middle frame of the clip an entry was predicted on (``sidecar["image"]`` read as
    preprocessing read it: ``clip_len`` frames from ``clip_start``), captioned with the entry's
    top-5 classes and probabilities (``labels``: the entry names its classes)."""
    clip = read_clip(sidecar["image"], int(sidecar["clip_len"]), int(sidecar.get("clip_start", 0)))
    return clip.frames[clip.frames.shape[0] // 2].contiguous(), topk_caption(entry)
