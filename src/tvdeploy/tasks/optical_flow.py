"""Adapter of the optical-flow task (contract: tvdeploy.tasks): a pair of images in, each its own
``.dat`` (tvdeploy.registry.paths.input_stem names them), through the OpticalFlow preset; RAFT's
list of flows, one per refinement step, deployed as its last flow alone with the number of steps
fixed; parity by end-point error (EPE: the per-pixel L2 norm of the flows' difference, in pixels)
against a tolerance scaled to the reference flow's mean magnitude, not discriminating where the
reference flow is one vector everywhere (what a degenerate model gives); predictions with the
flow stored as a ``.dat`` and its mean vector and magnitude."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from tvdeploy.inputs.dat import read_dat
from tvdeploy.inputs.pairs import RAFT_MIN_SIDE, RAFT_SIDE_MULTIPLE, PairSource, preprocess_pair, read_image_pair
from tvdeploy.predict.outputs import TensorOutput
from tvdeploy.registry.paths import group_call_inputs
from tvdeploy.registry.tasks import OPTICAL_FLOW, TASKS
from tvdeploy.tasks import ParityError
from tvdeploy.tasks.record_pairs import paired_results

TASK = TASKS[OPTICAL_FLOW]
# RAFT's refinement steps per call: torchvision's default, with which its weights were scored;
# every deployment runs exactly this many (the deployed forward takes no such argument).
NUM_FLOW_UPDATES = 12
FLOW_RANK = 4  # N, 2, H, W
FLOW_CHANNELS = 2  # u (along W), v (along H), in pixels
CHANNEL_DIM = 1
# The pair's H and W follow its images, so exports take any that RAFT takes: multiples of 8
# from 128 up (tvdeploy.inputs.pairs; torch.export proves RAFT's own size checks with them).
DYNAMIC_AXES = {2: "height", 3: "width"}
DYNAMIC_AXES_MIN = RAFT_MIN_SIDE
DYNAMIC_AXES_MULTIPLE = RAFT_SIDE_MULTIPLE
# Example inputs' H, W (exports, parity on random input): the preset neither resizes nor crops,
# so the weights name no size; the registry's (RAFT-valid).
EXAMPLE_SIZE = TASK.example_size
# Layout of the flow .dat predict writes per pair (one row of the batch).
FLOW_LAYOUT = "CHW"
# Spec key of the size policy (tvdeploy.inputs.pairs.SIZE_POLICIES) and its default.
SIZE_POLICY_KEY = "size_policy"
DEFAULT_SIZE_POLICY = "refuse"


def output_tensor(output: Any) -> torch.Tensor:
    """The [N, 2, H, W] flow of a model's output: the tensor itself, or the last of RAFT's list
    of flows (one per refinement step, the last the answer)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)) and output and all(isinstance(f, torch.Tensor) for f in output):
        return output[-1]
    raise TypeError(f"model output of type {type(output).__name__} is neither a flow tensor nor a list of flows")


class LastFlow(nn.Module):
    """Scriptable and traceable wrapper: RAFT's last flow alone, after NUM_FLOW_UPDATES steps."""

    __constants__ = ["num_flow_updates"]

    def __init__(self, model: nn.Module, num_flow_updates: int = NUM_FLOW_UPDATES):
        super().__init__()
        self.model = model
        self.num_flow_updates = num_flow_updates

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        return self.model(image1, image2, num_flow_updates=self.num_flow_updates)[-1]


def deployable(net: nn.Module, output: Any) -> tuple[nn.Module, str]:
    """``net`` returning its last flow alone, given an ``output`` it returned (RAFT: a list of
    flows), with a description of that output."""
    if isinstance(output, torch.Tensor):
        return net, "tensor"
    output_tensor(output)  # TypeError unless a list of flows
    return LastFlow(net).eval(), f"{type(output).__name__}[-1] of {len(output)} flows"


def end_point_errors(reference: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
    """Per pixel, the L2 norm of the difference of two [N, 2, H, W] flows: [N, H, W] (px)."""
    return torch.linalg.vector_norm(reference.double() - candidate.double(), dim=CHANNEL_DIM)


def magnitudes(flow: torch.Tensor) -> torch.Tensor:
    """Per pixel, the length of a [N, 2, H, W] flow's vector: [N, H, W] (px)."""
    return torch.linalg.vector_norm(flow.double(), dim=CHANNEL_DIM)


def discriminates(flow: torch.Tensor) -> bool:
    """Whether the flow varies over pixels: one vector everywhere (zero from a degenerate model)
    is matched by any runtime that also outputs a constant near it."""
    pixels = flow.double().flatten(start_dim=2)
    return bool((pixels.amax(dim=-1) > pixels.amin(dim=-1)).any())


def compare_outputs(reference: torch.Tensor, candidate: torch.Tensor, rtol: float, atol: float) -> dict:
    """Parity of two [N, 2, H, W] flows: their mean and max EPE, the max judged against
    ``atol + rtol * mean |reference flow|``."""
    if reference.shape != candidate.shape:
        raise ParityError(f"output shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    if reference.ndim != FLOW_RANK or reference.shape[CHANNEL_DIM] != FLOW_CHANNELS:
        raise ParityError(f"output shape {tuple(reference.shape)} is not a flow [N, 2, H, W]")
    reference, candidate = reference.detach(), candidate.detach()  # eager outputs may require grad
    epe = end_point_errors(reference, candidate)
    scale = float(magnitudes(reference).mean())
    tolerance = atol + rtol * scale
    max_epe = float(epe.max())
    return {
        "mean_epe": float(epe.mean()),
        "max_epe": max_epe,
        "tolerance": tolerance,
        "flow_mean_magnitude": scale,
        "within_tolerance": max_epe <= tolerance,
        "discriminates": discriminates(reference),
    }


def parity_message(label: str, comparison: dict) -> str:
    return (
        f"{label}: max end-point error {comparison['max_epe']:.3e} px (mean {comparison['mean_epe']:.3e}) "
        f"exceeds tolerance {comparison['tolerance']:.3e} px (reference flow mean magnitude "
        f"{comparison['flow_mean_magnitude']:.3e} px)"
        + ("" if comparison["discriminates"] else "; not discriminating: the reference flow is constant")
    )


def decoding_context(labels_path: str | Path | None = None, topk: int | None = None) -> dict:
    """Flows need no labels (optical-flow weights have no categories): nothing to decode with."""
    return {}


def flow_summary(flow: torch.Tensor) -> dict:
    """A [2, H, W] flow's mean vector [u, v] and mean magnitude (px)."""
    flow = flow.double()
    return {
        "mean_flow": flow.mean(dim=(1, 2)).tolist(),
        "mean_magnitude": float(torch.linalg.vector_norm(flow, dim=0).mean()),
    }


def predict(module, dat_paths, context: dict, device: torch.device) -> list[dict]:
    """Per pair (a call's ``.dat`` files in TASK.input_names order) and row: the flow (a
    TensorOutput, stored as a ``.dat``), its [2, H, W] shape, mean vector and magnitude, as the
    C++ infer writes them; ``input`` is the call's first file, ``inputs`` all of them."""
    results = []
    with torch.inference_mode():
        for _, members in group_call_inputs(dat_paths, TASK.input_names):
            images = [read_dat(dat) for dat in members]
            if images[0].shape != images[1].shape:
                raise ValueError(
                    f"{members[0]} and {members[1]} differ in shape: "
                    f"{tuple(images[0].shape)} vs {tuple(images[1].shape)}"
                )
            flow = output_tensor(module(*(image.to(device) for image in images))).float().cpu()
            batch, _, height, width = images[0].shape
            if tuple(flow.shape) != (batch, FLOW_CHANNELS, height, width):
                raise ValueError(
                    f"{members[0]}: model output shape {tuple(flow.shape)} is not the flow "
                    f"[{batch}, {FLOW_CHANNELS}, {height}, {width}] of its inputs"
                )
            for row in range(batch):
                results.append(
                    {
                        "input": str(members[0]),
                        "inputs": [str(m) for m in members],
                        "row": row,
                        "flow_shape": list(flow.shape[1:]),
                        **flow_summary(flow[row]),
                        "flow": TensorOutput(flow[row], FLOW_LAYOUT),
                    }
                )
    return results


def _pair_files(source) -> tuple[Path, Path]:
    if isinstance(source, PairSource):
        return source.first, source.second
    if isinstance(source, (list, tuple)) and len(source) == len(TASK.input_names):
        return Path(source[0]), Path(source[1])
    raise TypeError(f"an optical-flow input is a pair of image files, got {source!r}")


def preprocess(source, spec: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A pair (a tvdeploy.inputs.pairs.PairSource or two image paths) fitted to RAFT's sizes by
    ``spec``'s size policy and through the OpticalFlow preset: (image1, image2), each a float32
    batch of one [1, 3, H, W] in [-1, 1], in TASK.input_names order."""
    first, second = _pair_files(source)
    pair = read_image_pair(first, second, spec.get(SIZE_POLICY_KEY, DEFAULT_SIZE_POLICY))
    return tuple(x.contiguous() for x in preprocess_pair(pair))


def example_inputs(info, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two seeded random batches of ``batch`` images of EXAMPLE_SIZE in the preset's [-1, 1], the
    second the first shifted by a few pixels plus noise, so that the flow between them is not
    arbitrary. ``info`` (the catalog row) is not read: the preset fixes no size."""
    generator = torch.Generator().manual_seed(seed)
    first = torch.rand((batch, 3, *EXAMPLE_SIZE), generator=generator) * 2 - 1
    noise = torch.rand((batch, 3, *EXAMPLE_SIZE), generator=generator) * 0.1
    second = (torch.roll(first, shifts=(2, 4), dims=(2, 3)) + noise).clamp(-1, 1)
    return first, second


def builder_kwargs(model: str, weights) -> dict[str, Any]:
    """Nothing besides ``weights=None``: RAFT's builders take no backbone weights or heads."""
    return {}


def compare_predictions(reference: dict, candidate: dict, rtol: float, atol: float, identity: dict) -> list[dict]:
    """One parity row per pair and row: the EPE of the candidate's stored flow against the
    reference's (compare_outputs). The records' flows are tensors read back in (with
    tvdeploy.predict.outputs.resolve_tensor_outputs)."""

    def key(entry: dict) -> tuple[str, int]:
        return group_call_inputs(entry["inputs"], TASK.input_names)[0][0], entry.get("row", 0)

    rows = []
    for pair, expected, result in paired_results(reference, candidate, key, what="pair"):
        for record, entry in (("reference", expected), ("candidate", result)):
            if not isinstance(entry["flow"], torch.Tensor):
                raise TypeError(f"the {record}'s flow of {pair} is not read in: resolve_tensor_outputs first")
        comparison = compare_outputs(expected["flow"].unsqueeze(0), result["flow"].unsqueeze(0), rtol, atol)
        rows.append({**identity, "image": pair, **comparison})
    return rows


def draw_prediction(entry: dict, sidecar: dict, labels: list[str] | None = None) -> tuple[torch.Tensor, str]:
    """One resolved prediction entry beside its first image: the pair (``sidecar["sources"]``, the
    first image's sidecar) read and fitted as preprocessing fitted it, then image1 and the flow as
    ``torchvision.utils.flow_to_image`` colours it (hue: direction, saturation: magnitude) side by
    side; the caption gives the mean vector and magnitude. ``labels``: flows have none."""
    from torchvision.utils import flow_to_image

    first, second = sidecar["sources"]
    image1 = read_image_pair(first, second, sidecar.get(SIZE_POLICY_KEY, DEFAULT_SIZE_POLICY)).first
    flow = entry["flow"].float()
    if tuple(flow.shape[1:]) != tuple(image1.shape[1:]):
        raise ValueError(f"flow of shape {tuple(flow.shape)} does not fit image1 {first} {tuple(image1.shape)}")
    u, v = entry["mean_flow"]
    caption = f"image1 | flow: mean ({u:+.2f}, {v:+.2f}) px, mean magnitude {entry['mean_magnitude']:.2f} px"
    return torch.cat([image1, flow_to_image(flow)], dim=2), caption
