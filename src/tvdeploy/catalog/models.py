"""Building torchvision models from a state_dict, random weights, and TorchScript export.

Every model is built the way torchvision builds it for its DEFAULT pretrained weights
(same constructor arguments, e.g. googlenet's ``transform_input``), with the state_dict
handed in rather than fetched, so that random, downloaded and user-supplied weights all
give the same architecture and the same preprocessing semantics.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from tvdeploy.catalog.sheet import UnknownModelError
from tvdeploy.harnesses.cuda_graphs import CudaGraphReplay
from tvdeploy.registry import (
    CUDA_GRAPH,
    CUDAGRAPHS,
    NO_TRANSFORM,
    ONEDNN_FUSION,
    OPTIMIZE_FOR_INFERENCE,
    VARIANTS,
    derived_variants,
)
from tvdeploy.registry.failures import RUN_ERROR, classify, error_line

CPU = torch.device("cpu")

# torch.load reads this on every call; it overrides a caller that does not ask for weights_only.
FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


class ParityError(RuntimeError):
    """Two runtimes disagree beyond tolerance."""


class WeightsFileError(RuntimeError):
    """A weights file is unreadable or does not fit the model."""


@contextlib.contextmanager
def quiet_torchscript_deprecation():
    """Silence the one FutureWarning torch emits for every torch.jit call (TorchScript is
    deprecated upstream); every other warning still reaches the log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r"`torch\.jit\.\w+` is deprecated")
        yield


def default_weights(model: str):
    try:
        return get_model_weights(model).DEFAULT
    except (ValueError, KeyError) as err:
        raise UnknownModelError(f"unknown torchvision model '{model}'") from err


# What torchvision's builders (0.29) derive from the DEFAULT weights before constructing the
# model, besides num_classes. tests/test_catalog_models.py builds every catalog model from random
# weights through the builder, so a builder that derives something else fails there.
def _weights_derived_kwargs(model: str, weights) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
    if model in ("googlenet", "inception_v3"):
        # The published files carry the auxiliary heads; the builders drop them after loading.
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    if model.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    if model.startswith("maxvit_"):
        kwargs["input_size"] = weights.meta["min_size"]
    return kwargs


def random_state_dict(model: str, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random weights with exactly the keys of the model's pretrained file."""
    weights = default_weights(model)
    torch.manual_seed(seed)
    net = get_model(model, weights=None, **_weights_derived_kwargs(model, weights))
    # Keep the state_dict object itself: its _metadata carries module versions that some
    # loaders check (MNASNet).
    state = net.state_dict()
    for key, value in state.items():
        state[key] = value.detach().clone()
    return state


@contextlib.contextmanager
def _served_as_hub_cache(weights, path: Path):
    """torchvision's builders load DEFAULT weights through torch.hub's cache: serve ``path`` from a
    private cache folder under the file name of the weights' URL, with every torch.load forced to
    ``weights_only`` (torchvision's call does not ask for it)."""
    previous_dir = torch.hub.get_dir()
    previous_force = os.environ.get(FORCE_WEIGHTS_ONLY)
    with tempfile.TemporaryDirectory(prefix="tvdeploy-hub-") as hub_dir:
        checkpoints = Path(hub_dir) / "checkpoints"
        checkpoints.mkdir()
        (checkpoints / Path(urlparse(weights.url).path).name).symlink_to(path.resolve())
        torch.hub.set_dir(hub_dir)
        os.environ[FORCE_WEIGHTS_ONLY] = "1"
        try:
            yield
        finally:
            torch.hub.set_dir(previous_dir)
            if previous_force is None:
                os.environ.pop(FORCE_WEIGHTS_ONLY, None)
            else:
                os.environ[FORCE_WEIGHTS_ONLY] = previous_force


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state_dict safely (``weights_only=True``: tensors only, no pickled code)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt/unsafe files
        raise WeightsFileError(f"cannot load weights file {path}: {err}") from err
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsFileError(f"{path} is not a state_dict of tensors")
    return state


def build_model(model: str, weights_path: str | Path) -> nn.Module:
    """The model built by torchvision's own builder for its DEFAULT weights (same constructor
    arguments, e.g. googlenet's ``transform_input``), loaded from ``weights_path``."""
    weights_path = Path(weights_path)
    # Refuse unsafe or malformed files with a clear message before torchvision sees them.
    load_state_dict_file(weights_path)
    weights = default_weights(model)
    with _served_as_hub_cache(weights, weights_path):
        try:
            net = get_model(model, weights=weights)
        except RuntimeError as err:
            raise WeightsFileError(f"state_dict in {weights_path} does not fit {model}: {err}") from err
    return net.eval()


def categories(model: str) -> list[str]:
    return list(default_weights(model).meta["categories"])


# ---------------------------------------------------------------------------------------
# Output normalisation: every deployed module returns a [N, num_classes] logits tensor.


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


def logits_of(output: Any) -> torch.Tensor:
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


def script_logits_module(net: nn.Module, example: torch.Tensor) -> tuple[torch.jit.ScriptModule, str]:
    """Script ``net``; wrap it when the scripted forward returns a tuple (googlenet,
    inception_v3 return namedtuples under scripting even in eval mode)."""
    with quiet_torchscript_deprecation(), torch.inference_mode():
        scripted = torch.jit.script(net)
        output = scripted(example)
        kind = describe_output(output)
        index = _logits_index(output)
        if index is not None:
            scripted = torch.jit.script(LogitsOnly(net, index))
    return scripted.eval(), kind


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def parity_tolerance(reference: torch.Tensor, rtol: float, atol: float) -> float:
    """Tolerance scaled to the logits' magnitude (random weights give arbitrary scales)."""
    return atol + rtol * float(reference.double().abs().max())


def compare_logits(reference: torch.Tensor, candidate: torch.Tensor, rtol: float, atol: float, topk: int = 5) -> dict:
    if reference.shape != candidate.shape:
        raise ParityError(f"output shapes differ: {tuple(reference.shape)} vs {tuple(candidate.shape)}")
    diff = max_abs_diff(reference, candidate)
    tol = parity_tolerance(reference, rtol, atol)
    k = min(topk, reference.shape[-1])
    top_ref = reference.topk(k, dim=-1).indices
    top_cand = candidate.topk(k, dim=-1).indices
    return {
        "max_abs_diff": diff,
        "tolerance": tol,
        "logits_max_abs": float(reference.double().abs().max()),
        "top5_match": bool(torch.equal(top_ref, top_cand)),
        "within_tolerance": diff <= tol,
    }


def check_parity(label: str, comparison: dict) -> None:
    if not comparison["within_tolerance"]:
        raise ParityError(
            f"{label}: max abs diff {comparison['max_abs_diff']:.3e} exceeds tolerance "
            f"{comparison['tolerance']:.3e} (logits max |x| = {comparison['logits_max_abs']:.3e}, "
            f"top-5 match: {comparison['top5_match']})"
        )


# ---------------------------------------------------------------------------------------
# TorchScript deployment variants. Each saved variant takes float32 NCHW and returns float32
# logits, so every harness feeds it identical bytes; input casts are part of the measured work.


class HalfPrecision(nn.Module):
    """Runs the model in float16; casts in and out so callers keep float32 tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


class BFloat16(nn.Module):
    """Runs the model in bfloat16; casts in and out so callers keep float32 tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(torch.bfloat16)).float()


class ChannelsLast(nn.Module):
    """Runs the model on NHWC-strided tensors (faster convolutions on many backends)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.contiguous(memory_format=torch.channels_last))


def _frozen(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(plain.eval())


def _half(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(torch.jit.script(HalfPrecision(plain.half())).eval())


def _bfloat16(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(torch.jit.script(BFloat16(plain.to(torch.bfloat16))).eval())


def _channels_last(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    wrapped = ChannelsLast(plain.to(memory_format=torch.channels_last))
    return torch.jit.freeze(torch.jit.script(wrapped).eval())


# How each derived variant of the registry is made from the plain export (tests check that the
# keys are exactly the registry's derived variants). "optimized" is saved frozen: its
# optimize_for_inference is the registry's load transform, applied by every harness.
VARIANT_BUILDERS = {
    "frozen": _frozen,
    "optimized": _frozen,
    "fp16": _half,
    "channels_last": _channels_last,
    # Frozen like "frozen"; the fuser is the load transform. Its graph may come from a trace
    # (traced_if_exact).
    "fused": _frozen,
    "bf16": _bfloat16,
    # Frozen like "frozen"; the capture and replay is the load transform.
    CUDAGRAPHS: _frozen,
}


def make_variant(plain: torch.jit.ScriptModule, variant: str) -> torch.jit.ScriptModule:
    """The module to save for ``variant``, built from the loaded plain export."""
    if variant not in VARIANT_BUILDERS:
        raise ValueError(f"unknown TorchScript variant '{variant}' (expected one of {', '.join(derived_variants())})")
    with quiet_torchscript_deprecation():
        return VARIANT_BUILDERS[variant](plain)


def traced_if_exact(
    eager: nn.Module, scripted: torch.jit.ScriptModule, example: torch.Tensor, rtol: float, atol: float
) -> tuple[torch.jit.ScriptModule, str]:
    """The eager module traced on ``example`` if the trace reproduces it on a batch of another
    size (tracing records one path through the code and may bake in shapes), else ``scripted``;
    with the reason, for the variant's provenance."""
    other = torch.randn((example.shape[0] + 1, *example.shape[1:]), generator=torch.Generator().manual_seed(1))
    other = other.to(example.device)
    try:
        with torch.inference_mode(False), torch.no_grad(), quiet_torchscript_deprecation():
            traced = torch.jit.trace(eager.eval(), example, check_trace=False)
            comparison = compare_logits(logits_of(eager(other)), logits_of(traced(other)), rtol, atol)
    except Exception as err:  # any tracing failure means: use the scripted export
        return scripted, f"scripted: tracing failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    if not comparison["within_tolerance"]:
        return (
            scripted,
            f"scripted: the trace differs at batch {other.shape[0]} (max |Δ| {comparison['max_abs_diff']:.3g})",
        )
    return traced, f"traced: reproduces eager at batch {other.shape[0]}"


def save_first_deployable(
    candidates: list[tuple[torch.jit.ScriptModule, str]],
    variant: str,
    path: str | Path,
    device: torch.device,
    example: torch.Tensor,
    reference: torch.Tensor,
    rtol: float,
    atol: float,
) -> tuple[str, list[dict]]:
    """Saves ``variant`` of the first candidate graph whose file, reloaded with the variant's load
    transform as a harness does, runs ``example`` and reproduces eager's ``reference``; when none
    does (the oneDNN fuser fails on some graphs), the last is saved anyway, so that its runs fail
    or miss parity and the run records that for this model and variant instead of stopping.
    Returns ("ok" or "failed", one record per candidate tried)."""
    from tvdeploy.harnesses.torchscript import load_torchscript  # the harness's own loading

    transform = VARIANTS[variant].load_transform
    attempts = []
    for graph, source in candidates:
        with quiet_torchscript_deprecation():
            make_variant(graph, variant).save(str(path))
        try:
            deployed = load_torchscript(path, device, transform)
            with torch.inference_mode():
                comparison = compare_logits(reference, logits_of(deployed(example)), rtol, atol)
        except (RuntimeError, torch.jit.Error) as err:
            error = error_line(err, raised_last=isinstance(err, torch.jit.Error))
            attempts.append({"graph": source, "error": error, "error_class": classify(err, RUN_ERROR)})
            continue
        attempts.append({"graph": source, "parity_random_input": comparison})
        if comparison["within_tolerance"]:
            return "ok", attempts
    return "failed", attempts


class FusedModule:
    """A frozen TorchScript module run with the oneDNN Graph fuser. The profiling executor fuses a
    graph for an input shape only after profiling it (``torch._C._jit_get_num_profiled_runs()``
    calls), so a new shape first gets those calls: every output returned, warm-up and timed calls
    alike, comes from the fused graph.

    The fuser is a process-wide switch, on only during this module's calls: on a module that is
    not frozen it computes wrong logits (a conv + linear toy model was off by 0.06 at a scale of
    0.5 here, torch 2.14.1), so it must not reach other modules of the same process."""

    def __init__(self, module: torch.jit.ScriptModule):
        self.module = module
        self.profiling_calls = torch._C._jit_get_num_profiled_runs()
        self._shapes: set[tuple[int, ...]] = set()

    def __call__(self, batch: torch.Tensor):
        was_enabled = torch.jit.onednn_fusion_enabled()
        torch.jit.enable_onednn_fusion(True)
        try:
            shape = tuple(batch.shape)
            if shape not in self._shapes:
                for _ in range(self.profiling_calls):
                    self.module(batch)
                self._shapes.add(shape)
            return self.module(batch)
        finally:
            torch.jit.enable_onednn_fusion(was_enabled)

    def fusion_groups(self) -> int:
        """Fusion groups in the graph the executor last ran (0: the fuser did not run)."""
        graph = torch.jit.last_executed_optimized_graph()
        return len(graph.findAllNodes("prim::oneDNNFusionGroup", True)) if graph is not None else 0


def apply_load_transform(module: torch.jit.ScriptModule, transform: str, device: torch.device = CPU):
    """``module`` (loaded onto ``device``) as its variant runs it."""
    if transform == NO_TRANSFORM:
        return module
    if transform == OPTIMIZE_FOR_INFERENCE:
        with quiet_torchscript_deprecation():
            return torch.jit.optimize_for_inference(module)
    if transform == ONEDNN_FUSION:
        return FusedModule(module)
    if transform == CUDA_GRAPH:
        return CudaGraphReplay(module, device)
    raise ValueError(f"unknown load transform '{transform}'")


class OverheadProbe(nn.Module):
    """Does almost nothing (a view), so its latency is the harness's fixed cost per call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)
