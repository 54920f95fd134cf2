"""Adapter of the semantic-segmentation task (contract: tvdeploy.tasks): SemanticSegmentation
preprocessing (shorter side resized, no crop), the output contract (the dict's ``out`` logits
[N, C, H, W], deployed alone), decoding into a per-pixel argmax mask stored as a ``.dat`` with the
per-class pixel fractions, and parity by max |Δlogit| within a tolerance scaled to the logits plus
the share of pixels whose argmax class agrees (which cannot discriminate when the reference's
argmax is a single class, as random weights often give)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import SemanticSegmentation

from tvdeploy.inputs.dat import read_dat
from tvdeploy.inputs.images import load_rgb_image
from tvdeploy.predict.outputs import TensorOutput
from tvdeploy.registry.tasks import SEGMENTATION, TASKS
from tvdeploy.tasks import PICTURE_COLOURS, ParityError
from tvdeploy.tasks.record_pairs import paired_results

TASK = TASKS[SEGMENTATION]
# The key of the logits in the models' output dict ("aux" is the training-only auxiliary head).
OUT_KEY = "out"
LOGITS_RANK = 4  # N, C, H, W
# The input axes besides the batch whose size varies (index in TASK.input_layout -> name): the
# preset keeps the image's aspect, so H and W follow the image and every export takes any.
DYNAMIC_AXES = {2: "height", 3: "width"}
CLASS_DIM = 1
# Share of pixels whose argmax must agree (when it can discriminate): logits within tolerance
# still flip the odd near-tie pixel.
MIN_ARGMAX_AGREEMENT = 0.99
# Mask layout of the .dat predict writes per image.
MASK_LAYOUT = "HW"


def output_tensor(output: Any) -> torch.Tensor:
    """The [N, C, H, W] logits of a model's output: the tensor itself, or the dict's ``out``."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict) and isinstance(output.get(OUT_KEY), torch.Tensor):
        return output[OUT_KEY]
    raise TypeError(f"model output of type {type(output).__name__} holds no '{OUT_KEY}' logits tensor")


class OutOnly(nn.Module):
    """Scriptable and traceable wrapper returning the ``out`` tensor of a dict-returning model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]  # OUT_KEY: TorchScript cannot read module globals


def deployable(net: nn.Module, output: Any) -> tuple[nn.Module, str]:
    """``net`` returning its ``out`` logits alone, given an ``output`` it returned (torchvision's
    segmentation models return a dict, with ``aux`` too when built with aux weights), with a
    description of that output."""
    if isinstance(output, torch.Tensor):
        return net, "tensor"
    output_tensor(output)  # TypeError unless it holds "out"
    return OutOnly(net).eval(), f"dict[{OUT_KEY}] (keys: {', '.join(output)})"


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def parity_tolerance(reference: torch.Tensor, rtol: float, atol: float) -> float:
    """Tolerance scaled to the logits' magnitude (random weights give arbitrary scales)."""
    return atol + rtol * float(reference.double().abs().max())


def argmax_masks(logits: torch.Tensor) -> torch.Tensor:
    """The class index of every pixel of [N, C, H, W] logits: [N, H, W]."""
    return logits.argmax(dim=CLASS_DIM)


def mask_agreement(reference: torch.Tensor, candidate: torch.Tensor) -> dict:
    """How two masks of class indices agree: the share of equal pixels, and whether that share can
    discriminate at all (a reference of one class everywhere is matched by any constant output)."""
    if reference.shape != candidate.shape:
        raise ParityError(f"mask shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    agreement = float((reference == candidate).double().mean())
    discriminates = int(torch.unique(reference).numel()) > 1
    return {
        "argmax_agreement": agreement,
        "discriminates": discriminates,
        # None: no verdict, the agreement of a one-class reference proves nothing.
        "argmax_agrees": agreement >= MIN_ARGMAX_AGREEMENT if discriminates else None,
    }


def compare_outputs(reference: torch.Tensor, candidate: torch.Tensor, rtol: float, atol: float) -> dict:
    """Parity of two [N, C, H, W] logits tensors: max |Δ| against a tolerance scaled to the
    reference, and the per-pixel argmax agreement (counted only where it discriminates)."""
    if reference.shape != candidate.shape:
        raise ParityError(f"output shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    reference, candidate = reference.detach(), candidate.detach()  # eager outputs may require grad
    diff = max_abs_diff(reference, candidate)
    tol = parity_tolerance(reference, rtol, atol)
    agreement = mask_agreement(argmax_masks(reference), argmax_masks(candidate))
    return {
        "max_abs_diff": diff,
        "tolerance": tol,
        "logits_max_abs": float(reference.double().abs().max()),
        **agreement,
        "within_tolerance": diff <= tol and agreement["argmax_agrees"] is not False,
    }


def _agreement_words(comparison: dict) -> str:
    if not comparison["discriminates"]:
        return "argmax agreement not discriminating: the reference's argmax is one class everywhere"
    return f"argmax agreement {comparison['argmax_agreement']:.4%} (at least {MIN_ARGMAX_AGREEMENT:.0%} needed)"


def parity_message(label: str, comparison: dict) -> str:
    return (
        f"{label}: max abs diff {comparison['max_abs_diff']:.3e} against tolerance "
        f"{comparison['tolerance']:.3e} (logits max |x| = {comparison['logits_max_abs']:.3e}); "
        + _agreement_words(comparison)
    )


def read_labels(path: str | Path) -> list[str]:
    return Path(path).read_text(encoding="utf-8").splitlines()


def decoding_context(labels_path: str | Path, topk: int | None = None) -> dict:
    """What decoding needs: the weights' category names, one per line (21 for VOC labels);
    ``topk`` is classification's and ignored."""
    return {"labels": read_labels(labels_path)}


def class_fractions(mask: torch.Tensor, num_classes: int) -> list[float]:
    """The share of a [H, W] mask's pixels in each class."""
    counts = torch.bincount(mask.flatten(), minlength=num_classes)
    return (counts.double() / mask.numel()).tolist()


def predict(module, dat_paths, context: dict, device: torch.device) -> list[dict]:
    """Per image (row of each input): its argmax mask (a TensorOutput, stored as a ``.dat``), the
    share of pixels of each class and the logits' [C, H, W] shape, as the C++ infer writes them."""
    labels = context["labels"]
    results = []
    with torch.inference_mode():
        for dat in dat_paths:
            batch = read_dat(dat).to(device)
            logits = output_tensor(module(batch)).float().cpu()
            if logits.ndim != LOGITS_RANK or logits.shape[CLASS_DIM] != len(labels):
                raise ValueError(
                    f"{dat}: model output shape {tuple(logits.shape)} is not [N, {len(labels)}, H, W] "
                    f"({len(labels)} labels)"
                )
            masks = argmax_masks(logits)
            for row in range(logits.shape[0]):
                results.append(
                    {
                        "input": str(dat),
                        "row": row,
                        "logits_shape": list(logits.shape[1:]),
                        "class_fractions": class_fractions(masks[row], len(labels)),
                        "mask": TensorOutput(masks[row].float(), MASK_LAYOUT),
                    }
                )
    return results


def make_transform(spec: dict) -> SemanticSegmentation:
    return SemanticSegmentation(
        resize_size=spec["resize_size"],
        mean=tuple(spec["mean"]),
        std=tuple(spec["std"]),
        interpolation=InterpolationMode(spec["interpolation"]),
        antialias=spec.get("antialias", True),
    )


def preprocess(path: str | Path, spec: dict) -> tuple[torch.Tensor]:
    """One image through its weights' SemanticSegmentation preset, as a batch of one (NCHW)."""
    tensor = make_transform(spec)(load_rgb_image(path))
    return (tensor.unsqueeze(0).contiguous(),)


def example_inputs(info, batch: int, seed: int) -> tuple[torch.Tensor]:
    """A seeded random batch of ``batch`` images of the catalog row's example shape
    (``info.input_shape``: the preset's shorter side, landscape 3:4, e.g. 520 x 694; the models
    take any size, real inputs follow their image)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn((batch, *info.input_shape[1:]), generator=generator),)


def builder_kwargs(model: str, weights) -> dict[str, Any]:
    """What torchvision's segmentation builders (0.29) derive from their DEFAULT weights besides
    ``num_classes``, to build the same architecture with ``weights=None``: no separate backbone
    weights (the file holds the whole model; the builders' default would download ImageNet ones),
    and the auxiliary head where the builder takes ``aux_loss`` (fcn and deeplabv3 set it to True
    for their weights, whose files carry ``aux_classifier``; lraspp has none and refuses it)."""
    import inspect

    from torchvision.models import get_model_builder

    parameters = inspect.signature(get_model_builder(model)).parameters
    kwargs: dict[str, Any] = {"weights_backbone": None}
    if "aux_loss" in parameters:
        kwargs["aux_loss"] = True
    return kwargs


def compare_predictions(reference: dict, candidate: dict, rtol: float, atol: float, identity: dict) -> list[dict]:
    """One parity row per image: the argmax agreement of the candidate's mask with the
    reference's, and the largest difference of their class fractions. The records' masks are
    tensors (stored as ``.dat`` files beside each record: read them with
    tvdeploy.predict.outputs.resolve_tensor_outputs); ``rtol``/``atol`` judge logits, which the
    records do not keep."""
    rows = []
    for name, expected, result in paired_results(reference, candidate):
        for record, entry in (("reference", expected), ("candidate", result)):
            if not isinstance(entry["mask"], torch.Tensor):
                raise TypeError(f"the {record}'s mask of {name} is not read in: resolve_tensor_outputs first")
        agreement = mask_agreement(expected["mask"], result["mask"])
        fraction_diff = max(
            abs(a - b) for a, b in zip(expected["class_fractions"], result["class_fractions"], strict=True)
        )
        rows.append(
            {
                **identity,
                "image": name,
                **agreement,
                "max_fraction_diff": fraction_diff,
                "within_tolerance": agreement["argmax_agrees"] is not False,
            }
        )
    return rows


# The class index of "__background__" in every torchvision segmentation weights' categories: not
# overlaid, so that the picture shows the objects the model found.
BACKGROUND = 0
# How much of the image shows through a class's colour, and how many classes the caption names.
MASK_ALPHA = 0.5
CAPTION_CLASSES = 3


def draw_prediction(entry: dict, sidecar: dict, labels: list[str] | None) -> tuple[torch.Tensor, str]:
    """One resolved prediction entry drawn on its source image (``sidecar["image"]``, resized to the
    mask's size, the preprocessed one): every non-background class of the argmax mask in its
    PICTURE_COLOURS colour; the caption names the classes covering the most pixels."""
    from torchvision.transforms.functional import pil_to_tensor, resize
    from torchvision.utils import draw_segmentation_masks

    mask = entry["mask"].long()
    image = resize(pil_to_tensor(load_rgb_image(sidecar["image"])), list(mask.shape), antialias=True)
    classes = [int(c) for c in mask.unique() if int(c) != BACKGROUND]
    if classes:
        shown = torch.stack([mask == c for c in classes])
        # A class's colour follows its index: alike in both panels whatever classes each found.
        colours = [PICTURE_COLOURS[c % len(PICTURE_COLOURS)] for c in classes]
        image = draw_segmentation_masks(image, shown, alpha=MASK_ALPHA, colors=colours)
    fractions = torch.tensor(entry["class_fractions"])
    top = fractions.argsort(descending=True)[:CAPTION_CLASSES]
    names = labels or [str(i) for i in range(len(fractions))]
    caption = ", ".join(f"{names[int(c)]} {float(fractions[c]):.0%}" for c in top if fractions[c] > 0)
    return image, f"pixels: {caption}"
