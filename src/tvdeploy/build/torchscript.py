"""TorchScript export and its deployment variants. Each saved variant takes float32 inputs and
returns float32 outputs, so every harness feeds it identical bytes; input casts are part of the
measured work. What a model's outputs are and how two are compared is its task adapter's
(``task``: a tvdeploy.tasks adapter module)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from tvdeploy.build.load import load_torchscript, quiet_torchscript_deprecation
from tvdeploy.registry import CUDAGRAPHS, VARIANTS, derived_variants
from tvdeploy.registry.failures import RUN_ERROR, classify, error_line


def script_deployable(net: nn.Module, example: tuple[torch.Tensor, ...], task) -> tuple[torch.jit.ScriptModule, str]:
    """Script ``net``; when the scripted forward returns more than the task's plain outputs, script
    the task adapter's wrapper instead. Returns the module and what the scripted forward returned."""
    with quiet_torchscript_deprecation(), torch.inference_mode():
        scripted = torch.jit.script(net)
        wrapped, kind = task.deployable(net, scripted(*example))
        if wrapped is not net:
            scripted = torch.jit.script(wrapped)
    return scripted.eval(), kind


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


# Rank of the tensors each channels-last memory format applies to (torch refuses any other rank).
CHANNELS_LAST_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


class ChannelsLast(nn.Module):
    """Runs the model on channels-last-strided tensors (faster convolutions on many backends):
    NHWC for an image batch, NTHWC (channels_last_3d) for a video clip batch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 5:
            return self.model(x.contiguous(memory_format=torch.channels_last_3d))
        return self.model(x.contiguous(memory_format=torch.channels_last))


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` with every 4-D parameter and buffer NHWC-strided and every 5-D one NTHWC
    (``Module.to(memory_format=channels_last)`` refuses a video model's 5-D Conv3d weights)."""
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.dim() in CHANNELS_LAST_FORMATS:
            tensor.data = tensor.data.contiguous(memory_format=CHANNELS_LAST_FORMATS[tensor.dim()])
    return module


# The same wrappers for a model of two inputs (optical flow's image pair). TorchScript scripts
# neither *args nor a call whose argument count the wrapped forward does not take, so each arity
# has its class; wrap() picks it by the model's input count.
class HalfPrecisionPair(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model(x.half(), y.half()).float()


class BFloat16Pair(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(torch.bfloat16), y.to(torch.bfloat16)).float()


class ChannelsLastPair(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nhwc = torch.channels_last
        return self.model(x.contiguous(memory_format=nhwc), y.contiguous(memory_format=nhwc))


# Wrapper class per precision or layout, by the model's number of inputs.
WRAPPERS = {
    "half": {1: HalfPrecision, 2: HalfPrecisionPair},
    "bfloat16": {1: BFloat16, 2: BFloat16Pair},
    "channels_last": {1: ChannelsLast, 2: ChannelsLastPair},
}


def input_count(module: nn.Module) -> int:
    """How many tensors ``module``'s forward takes (a ScriptModule's schema, else its signature)."""
    if isinstance(module, torch.jit.ScriptModule):
        return len(module.forward.schema.arguments) - 1  # less self
    import inspect

    parameters = inspect.signature(module.forward).parameters.values()
    return sum(p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD for p in parameters)


def wrap(kind: str, model: nn.Module, inputs: int | None = None) -> nn.Module:
    """``model`` in the ``kind`` wrapper (WRAPPERS) of its input count (``inputs``, else read
    from its forward); ValueError where no wrapper takes that many."""
    count = input_count(model) if inputs is None else inputs
    classes = WRAPPERS[kind]
    if count not in classes:
        raise ValueError(f"no {kind} wrapper for a model of {count} inputs (wrapped: {sorted(classes)})")
    return classes[count](model)


def _frozen(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(plain.eval())


def _half(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(torch.jit.script(wrap("half", plain.half())).eval())


def _bfloat16(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    return torch.jit.freeze(torch.jit.script(wrap("bfloat16", plain.to(torch.bfloat16))).eval())


def _channels_last(plain: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    wrapped = wrap("channels_last", to_channels_last(plain))
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
    # bf16 as above from the traced (else scripted) graph; the fuser is the load transform.
    "fused_bf16": _bfloat16,
    # Frozen like "frozen"; the capture and replay is the load transform.
    CUDAGRAPHS: _frozen,
}


def make_variant(plain: torch.jit.ScriptModule, variant: str) -> torch.jit.ScriptModule:
    """The module to save for ``variant``, built from the loaded plain export."""
    if variant not in VARIANT_BUILDERS:
        raise ValueError(f"unknown TorchScript variant '{variant}' (expected one of {', '.join(derived_variants())})")
    with quiet_torchscript_deprecation():
        return VARIANT_BUILDERS[variant](plain)


# How much larger each varying axis of an input without a batch axis is in the trace's check (a
# multiple of every model's stride).
OTHER_SIZE_STEP = 32


def _batched(task) -> bool:
    return task.TASK.input_layout.startswith("N")


def other_shape(shape: torch.Size, task) -> tuple[int, ...]:
    """An input shape other than ``shape`` that the task's models take: a batch one larger where
    the task's input layout has a batch axis (N), else each axis whose size varies from input to
    input (the adapter's DYNAMIC_AXES: a detector's CHW image's height and width) OTHER_SIZE_STEP
    larger."""
    other = list(shape)
    if _batched(task):
        other[0] += 1
    else:
        for axis in getattr(task, "DYNAMIC_AXES", {}):
            other[axis] += OTHER_SIZE_STEP
    return tuple(other)


def traced_if_exact(
    eager: nn.Module,
    scripted: torch.jit.ScriptModule,
    example: tuple[torch.Tensor, ...],
    rtol: float,
    atol: float,
    task,
) -> tuple[torch.jit.ScriptModule, str]:
    """The eager module traced on ``example`` if the trace reproduces it on an input of another
    shape (tracing records one path through the code and may bake in shapes; ``other_shape``),
    else ``scripted``; with the reason, for the variant's provenance."""
    generator = torch.Generator().manual_seed(1)
    other = tuple(torch.randn(other_shape(x.shape, task), generator=generator).to(x.device) for x in example)
    where = f"batch {other[0].shape[0]}" if _batched(task) else f"shape {list(other[0].shape)}"
    try:
        with torch.inference_mode(False), torch.no_grad(), quiet_torchscript_deprecation():
            traced = torch.jit.trace(eager.eval(), example, check_trace=False)
            comparison = task.compare_outputs(
                task.output_tensor(eager(*other)), task.output_tensor(traced(*other)), rtol, atol
            )
    except Exception as err:  # any tracing failure means: use the scripted export
        return scripted, f"scripted: tracing failed ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
    if not comparison["within_tolerance"]:
        return (
            scripted,
            f"scripted: the trace differs at {where} "
            f"({task.parity_message('trace', comparison).partition(': ')[2][:200]})",
        )
    return traced, f"traced: reproduces eager at {where}"


def save_first_deployable(
    candidates: list[tuple[torch.jit.ScriptModule, str]],
    variant: str,
    path: str | Path,
    device: torch.device,
    example: tuple[torch.Tensor, ...],
    reference: torch.Tensor,
    rtol: float,
    atol: float,
    task,
) -> tuple[str, list[dict]]:
    """Saves ``variant`` of the first candidate graph whose file, reloaded with the variant's load
    transform as a harness does, runs ``example`` and reproduces eager's ``reference``; when none
    does (the oneDNN fuser fails on some graphs), the last is saved anyway, so that its runs fail
    or miss parity and the run records that for this model and variant instead of stopping.
    Returns ("ok" or "failed", one record per candidate tried)."""

    transform = VARIANTS[variant].load_transform
    attempts = []
    for graph, source in candidates:
        with quiet_torchscript_deprecation():
            make_variant(graph, variant).save(str(path))
        try:
            deployed = load_torchscript(path, device, transform)
            with torch.inference_mode():
                comparison = task.compare_outputs(reference, task.output_tensor(deployed(*example)), rtol, atol)
        except (RuntimeError, torch.jit.Error) as err:
            error = error_line(err, raised_last=isinstance(err, torch.jit.Error))
            attempts.append({"graph": source, "error": error, "error_class": classify(err, RUN_ERROR)})
            continue
        attempts.append({"graph": source, "parity_random_input": comparison})
        if comparison["within_tolerance"]:
            return "ok", attempts
    return "failed", attempts


class OverheadProbe(nn.Module):
    """Does almost nothing (a view), so its latency is the harness's fixed cost per call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)
