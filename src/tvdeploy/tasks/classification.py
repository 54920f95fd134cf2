"""Adapter of the image-classification task (contract: tvdeploy.tasks): ImageClassification
preprocessing, the output contract (one [N, num_classes] logits tensor, taken out of the tuples
googlenet and inception_v3 return), top-k decoding with the weights' category names, and parity by
max |Δlogit| within a tolerance scaled to the logits, plus top-5 agreement (neither discriminates
where the reference's logits are constant, which the comparison says)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

from tvdeploy.inputs.dat import read_dat
from tvdeploy.inputs.images import load_rgb_image
from tvdeploy.registry.tasks import CLASSIFICATION, TASKS
from tvdeploy.tasks import ParityError
from tvdeploy.tasks.record_pairs import paired_results

TASK = TASKS[CLASSIFICATION]
# Top-k decoding: the number of classes reported unless the caller asks otherwise.
DEFAULT_TOPK = 5


def _logits_index(output: Any) -> int | None:
    """None for a plain tensor; the index of the logits inside a tuple/namedtuple."""
    if isinstance(output, torch.Tensor):
        return None
    if isinstance(output, tuple):
        fields = getattr(output, "_fields", None)
        if fields and "logits" in fields:
            return fields.index("logits")
        for index, item in enumerate(output):
            if isinstance(item, torch.Tensor):
                return index
    raise TypeError(f"model output of type {type(output).__name__} holds no logits tensor")


def output_tensor(output: Any) -> torch.Tensor:
    """The logits tensor of a model's output (a tensor, or the logits inside a tuple)."""
    index = _logits_index(output)
    return output if index is None else output[index]


def describe_output(output: Any) -> str:
    index = _logits_index(output)
    if index is None:
        return "tensor"
    fields = getattr(output, "_fields", None)
    name = type(output).__name__
    return f"{name}[{fields[index] if fields else index}]"


class LogitsOnly(nn.Module):
    """Scriptable wrapper that returns one element of a tuple-returning model."""

    __constants__ = ["index"]

    def __init__(self, model: nn.Module, index: int):
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[self.index]


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def parity_tolerance(reference: torch.Tensor, rtol: float, atol: float) -> float:
    """Tolerance scaled to the logits' magnitude (random weights give arbitrary scales)."""
    return atol + rtol * float(reference.double().abs().max())


def compare_outputs(reference: torch.Tensor, candidate: torch.Tensor, rtol: float, atol: float, topk: int = 5) -> dict:
    """Parity of two logits tensors: max |Δ| against a tolerance scaled to the reference, and
    top-1 and top-k agreement (what a reduced-precision deployment is also judged by)."""
    if reference.shape != candidate.shape:
        raise ParityError(f"output shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    diff = max_abs_diff(reference, candidate)
    tol = parity_tolerance(reference, rtol, atol)
    k = min(topk, reference.shape[-1])
    top_ref = reference.topk(k, dim=-1).indices
    top_cand = candidate.topk(k, dim=-1).indices
    scale = float(reference.double().abs().max())
    return {
        "max_abs_diff": diff,
        "tolerance": tol,
        "logits_max_abs": scale,
        # The difference relative to the logits' scale: comparable across models and precisions.
        "relative_diff": diff / scale if scale > 0 else None,
        "top1_match": bool(torch.equal(top_ref[..., 0], top_cand[..., 0])),
        # The share of the reference's top-k classes also in the candidate's, whatever their order
        # (the worst row's): a reduced precision reorders near-ties without changing the answer.
        "top5_overlap": min(
            len(set(r.tolist()) & set(c.tolist())) / k
            for r, c in zip(top_ref.reshape(-1, k), top_cand.reshape(-1, k), strict=True)
        ),
        "top5_match": bool(torch.equal(top_ref, top_cand)),
        "within_tolerance": diff <= tol,
        # Constant logits (random-weight quantized mobilenets give all zeros) agree with anything
        # near them and rank no class above another: such a check proves nothing either way.
        "discriminates": discriminates(reference),
    }


def discriminates(logits: torch.Tensor) -> bool:
    """Whether every row of ``logits`` ranks some class above another (is not constant)."""
    rows = logits.reshape(-1, logits.shape[-1])
    return bool((rows.amax(dim=-1) > rows.amin(dim=-1)).all())


def parity_message(label: str, comparison: dict) -> str:
    return (
        f"{label}: max abs diff {comparison['max_abs_diff']:.3e} exceeds tolerance "
        f"{comparison['tolerance']:.3e} (logits max |x| = {comparison['logits_max_abs']:.3e}, "
        f"top-5 match: {comparison['top5_match']})"
    )


def read_labels(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def decoding_context(labels_path: str | Path, topk: int = DEFAULT_TOPK) -> dict:
    """What decoding needs: the weights' category names (one per line) and how many to report."""
    return {"labels": read_labels(labels_path), "topk": topk}


def predict(module, dat_paths, context: dict, device: torch.device) -> list[dict]:
    """Top-k predictions and full logits per input, in the same layout the C++ infer writes."""
    labels, topk = context["labels"], context["topk"]
    results = []
    with torch.inference_mode():
        for dat in dat_paths:
            batch = read_dat(dat).to(device)
            logits = output_tensor(module(batch)).float().cpu()
            if logits.ndim != 2 or logits.shape[1] != len(labels):
                raise ValueError(f"{dat}: model output shape {tuple(logits.shape)} does not match {len(labels)} labels")
            probs = torch.softmax(logits, dim=1)
            top = probs.topk(min(topk, probs.shape[1]), dim=1)
            for row in range(logits.shape[0]):
                results.append(
                    {
                        "input": str(dat),
                        "row": row,
                        "logits": logits[row].tolist(),
                        "topk": [
                            {
                                "rank": rank + 1,
                                "class_index": int(idx),
                                "label": labels[int(idx)],
                                "probability": float(p),
                            }
                            for rank, (idx, p) in enumerate(zip(top.indices[row], top.values[row], strict=True))
                        ],
                    }
                )
    return results


def topk_caption(entry: dict) -> str:
    """A prediction entry's top-k classes with their probabilities, best first, on one line."""
    return ", ".join(f"{t['label']} {t['probability']:.1%}" for t in entry["topk"])


def make_transform(spec: dict) -> ImageClassification:
    return ImageClassification(
        crop_size=spec["crop_size"],
        resize_size=spec["resize_size"],
        mean=tuple(spec["mean"]),
        std=tuple(spec["std"]),
        interpolation=InterpolationMode(spec["interpolation"]),
        antialias=spec.get("antialias", True),
    )


def preprocess(path: str | Path, spec: dict) -> tuple[torch.Tensor]:
    """One image through its weights' ImageClassification preset, as a batch of one (NCHW)."""
    tensor = make_transform(spec)(load_rgb_image(path))
    return (tensor.unsqueeze(0).contiguous(),)


def example_inputs(info, batch: int, seed: int) -> tuple[torch.Tensor]:
    """A seeded random batch of ``batch`` images of the model's crop size."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn((batch, *info.input_shape[1:]), generator=generator),)


def deployable(net: nn.Module, output: Any) -> tuple[nn.Module, str]:
    """``net`` returning its logits tensor, given an ``output`` it returned (googlenet and
    inception_v3 return a namedtuple when scripted, even in eval mode; artifacts carry one tensor
    out), with a description of that output."""
    index = _logits_index(output)
    return (net if index is None else LogitsOnly(net, index).eval()), describe_output(output)


def compare_predictions(reference: dict, candidate: dict, rtol: float, atol: float, identity: dict) -> list[dict]:
    """One parity row per image: max |Δlogit| and top-5 agreement of candidate vs reference."""
    return [
        {
            **identity,
            "image": name,
            **compare_outputs(
                torch.tensor(expected["logits"]).unsqueeze(0), torch.tensor(result["logits"]).unsqueeze(0), rtol, atol
            ),
        }
        for name, expected, result in paired_results(reference, candidate)
    ]
