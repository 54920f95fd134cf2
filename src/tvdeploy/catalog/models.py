"""Building torchvision models from a state_dict, and random weights shaped like the published ones.

Every model is built the way torchvision builds it for its DEFAULT pretrained weights
(same constructor arguments, e.g. googlenet's ``transform_input``), with the state_dict
handed in rather than fetched, so that random, downloaded and user-supplied weights all
give the same architecture and the same preprocessing semantics.

The eager-quantized classifiers (torchvision.models.quantization) are built with ``quantize=True``
for the engine their weights name (``meta["backend"]``); torchvision's builder selects that engine
for the whole process (``torch.backends.quantized.engine``), and every other loader of such a model
selects it first with ``select_quantized_engine``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from tvdeploy.catalog.sheet import UnknownModelError
from tvdeploy.files import read_json
from tvdeploy.tasks import (
    builder_kwargs,
    calibrate_random,
    random_weights_kwargs,
    trained_architecture_differs,
    wrap_model,
)

# torch.load reads this on every call; it overrides a caller that does not ask for weights_only.
FORCE_WEIGHTS_ONLY = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"


class WeightsFileError(RuntimeError):
    """A weights file is unreadable or does not fit the model."""


def default_weights(model: str):
    try:
        return get_model_weights(model).DEFAULT
    except (ValueError, KeyError) as err:
        raise UnknownModelError(f"unknown torchvision model '{model}'") from err


# What torchvision's builders (0.29) derive from the DEFAULT weights before constructing the
# model, besides num_classes. tests/catalog/test_catalog_models.py builds every catalog model from random
# weights through the builder, so a builder that derives something else fails there.
def _weights_derived_kwargs(model: str, weights) -> dict[str, Any]:
    # RAFT's weights name no categories, and its builders take no num_classes.
    names = categories_of(weights)
    kwargs: dict[str, Any] = {"num_classes": len(names)} if names else {}
    kwargs.update(builder_kwargs(model, weights))  # the task's (segmentation: no backbone download, aux head)
    engine = quantized_engine(model)
    if engine:
        # Given no weights, a quantized builder calibrates the randomly initialised model on a
        # random input, for the engine its published weights name.
        kwargs.update(quantize=True, backend=engine)
    if model.removeprefix("quantized_") in ("googlenet", "inception_v3"):
        # The published files carry the auxiliary heads; the builders drop them after loading.
        kwargs.update(transform_input=True, aux_logits=True, init_weights=False)
    if model.startswith("vit_"):
        kwargs["image_size"] = weights.meta["min_size"][0]
    if model.startswith("maxvit_"):
        kwargs["input_size"] = weights.meta["min_size"]
    return kwargs


def quantized_engine(model: str) -> str:
    """The quantized-operator engine an eager-quantized model's weights were packed for, "" for a
    float model (the sheet's ``quantized_engine`` column comes from here)."""
    return str(default_weights(model).meta.get("backend", ""))


class QuantizedEngineError(RuntimeError):
    """An eager-quantized model cannot run here: this PyTorch build lacks its engine, or the
    device is not the CPU."""


def select_quantized_engine(model: str) -> str:
    """Select the engine of an eager-quantized ``model`` for this process before anything loads it
    (a TorchScript file unpacks its weights for the engine selected at load time); returns it, or
    "" for a float model (nothing changed)."""
    engine = quantized_engine(model)
    if engine and torch.backends.quantized.engine != engine:
        if engine not in torch.backends.quantized.supported_engines:
            raise QuantizedEngineError(
                f"{model} needs the quantized engine '{engine}', which this PyTorch build lacks "
                f"(it has: {', '.join(torch.backends.quantized.supported_engines)})"
            )
        torch.backends.quantized.engine = engine
    return engine


def check_quantized_device(model: str, device: torch.device) -> None:
    """Refuse to place an eager-quantized model anywhere but the CPU: its kernels (fbgemm,
    qnnpack) are CPU kernels, and a GPU run would fail only at the first forward."""
    engine = quantized_engine(model)
    if engine and device.type != "cpu":
        raise QuantizedEngineError(
            f"{model} is eager-quantized ({engine} kernels): it runs on the CPU only, not on {device.type}"
        )


# The spread of seeded values given to a weight matrix that torchvision initialises to zeros.
ZERO_INIT_REPLACEMENT_STD = 0.02


# Quantized models whose published file is the quantization-aware-training state (float weights
# and fake-quantization statistics): the builder prepares the model for QAT, loads that state and
# converts it only then (a workaround for pytorch/vision#5890).
QAT_STATE_MODELS = ("quantized_mobilenet_v3_large",)
# Seeded random images the observers of a random QAT state see (the builder calibrates the others
# on one random image).
QAT_CALIBRATION_IMAGES = 4


def _random_qat_state(model: str, weights, seed: int) -> nn.Module:
    """A randomly initialised model in the state QAT_STATE_MODELS' builders load: fused, prepared for
    QAT with the engine's default QAT config, its observers run on seeded random images."""
    kwargs = _weights_derived_kwargs(model, weights)
    engine = kwargs.pop("backend")
    kwargs["quantize"] = False
    net = get_model(model, weights=None, **kwargs)
    net.fuse_model(is_qat=True)
    net.qconfig = torch.ao.quantization.get_default_qat_qconfig(engine)
    torch.ao.quantization.prepare_qat(net, inplace=True)
    size = weights.transforms().crop_size[0]
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(QAT_CALIBRATION_IMAGES):
            net(torch.randn(1, 3, size, size, generator=generator))
    return net.eval()


def trained_state_keys(model: str, weights) -> list[str]:
    """The state_dict keys ``model`` has when its builder loads its DEFAULT ``weights`` into it: the
    architecture built the trained way, on the meta device, with nothing fetched or loaded."""
    keys: list[list[str]] = []

    def record_keys(net: nn.Module, state_dict, strict: bool = True, assign: bool = False):
        keys.append(list(net.state_dict().keys()))
        return torch.nn.modules.module._IncompatibleKeys([], [])

    with (
        torch.device("meta"),
        mock.patch.object(type(weights), "get_state_dict", lambda *args, **kwargs: {}),
        mock.patch.object(nn.Module, "load_state_dict", record_keys),
    ):
        get_model(model, weights=weights)
    if len(keys) != 1:
        raise RuntimeError(f"the builder of {model} loaded {len(keys)} state_dicts for its DEFAULT weights, not one")
    return keys[0]


def random_state_dict(model: str, seed: int) -> dict[str, Any]:
    """Seeded random weights with exactly the keys of the model's pretrained file (a quantized
    model's: calibrated by its builder on a seeded random input, as torchvision does, or the QAT
    state for QAT_STATE_MODELS), calibrated as the model's task asks (``calibrate_random``:
    a detector's batch-norm statistics). Where the builder builds another architecture for trained
    weights (``trained_architecture_differs``: a detector's frozen batch norms), only the keys of
    that architecture are kept."""
    weights = default_weights(model)
    torch.manual_seed(seed)
    if model in QAT_STATE_MODELS:
        net = _random_qat_state(model, weights, seed)
    else:
        net = get_model(model, weights=None, **_weights_derived_kwargs(model, weights))
        calibrate_random(weights, net, seed)
    # Keep the state_dict object itself: its _metadata carries module versions that some
    # loaders check (MNASNet).
    state = net.state_dict()
    if trained_architecture_differs(weights):
        keep = set(trained_state_keys(model, weights))
        missing = sorted(keep - state.keys())
        if missing:
            raise RuntimeError(f"random weights of {model} lack keys of its trained architecture: {missing[:5]}")
        for key in [key for key in state if key not in keep]:
            del state[key]
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        state[key] = value.detach().clone()
        if value.is_floating_point() and value.ndim >= 2 and not value.any():
            # torchvision starts the ViT head at zero: every logit would be 0 and every parity
            # check vacuous. A weight matrix that starts all-zero gets small seeded values.
            state[key] = torch.randn(value.shape, generator=generator, dtype=value.dtype) * ZERO_INIT_REPLACEMENT_STD
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
    if not isinstance(state, dict) or not all(_is_state_value(v) for v in state.values()):
        raise WeightsFileError(f"{path} is not a state_dict of tensors")
    return state


def _is_state_value(value) -> bool:
    """A tensor, or what a quantized module's state holds besides: its packed parameters' dtype
    and their (weight, bias) tuple."""
    if isinstance(value, (torch.Tensor, torch.dtype)):
        return True
    return isinstance(value, tuple) and all(v is None or isinstance(v, torch.Tensor) for v in value)


def weights_provenance(weights_path: str | Path) -> dict | None:
    """The provenance record beside a weights file (``data/weights/{model}.json`` beside its
    ``.pth``, written by download_weights), None where there is none."""
    sidecar = Path(weights_path).with_suffix(".json")
    return read_json(sidecar) if sidecar.is_file() else None


def random_weights_build_kwargs(model: str, provenance: dict | None) -> dict[str, Any]:
    """What ``model`` is built with besides its DEFAULT weights' arguments for weights of this
    ``provenance``: its task's ``random_weights_kwargs`` where they are random (a detector's score
    threshold of 0), none for real weights."""
    if provenance is None or provenance.get("source") != "random":
        return {}
    return random_weights_kwargs(model, default_weights(model))


def build_model(model: str, weights_path: str | Path, provenance: dict | None = None) -> nn.Module:
    """The model built by torchvision's own builder for its DEFAULT weights (same constructor
    arguments, e.g. googlenet's ``transform_input``), loaded from ``weights_path``. Random weights
    (``provenance``, by default the record beside the file, says so) are built with what their
    task asks for besides (``random_weights_build_kwargs``). Returned as every stage deploys a model
    of its task (``tvdeploy.tasks.wrap_model``: a detector takes one image)."""
    weights_path = Path(weights_path)
    # Refuse unsafe or malformed files with a clear message before torchvision sees them.
    load_state_dict_file(weights_path)
    weights = default_weights(model)
    if provenance is None:
        provenance = weights_provenance(weights_path)
    # Not every quantized builder selects its engine itself (mobilenet_v3 converts under whichever
    # is selected): select it for them.
    quantize = {"quantize": True} if select_quantized_engine(model) else {}
    with _served_as_hub_cache(weights, weights_path):
        try:
            net = get_model(model, weights=weights, **quantize, **random_weights_build_kwargs(model, provenance))
        except RuntimeError as err:
            raise WeightsFileError(f"state_dict in {weights_path} does not fit {model}: {err}") from err
    return wrap_model(weights, net.eval())


def categories_of(weights) -> list[str]:
    """The category names a weights enum member's metadata lists; none for weights whose outputs
    name no classes (optical flow's RAFT)."""
    return list(weights.meta.get("categories", ()))


def categories(model: str) -> list[str]:
    """The category names of a model's DEFAULT weights (empty for a model that names no classes:
    its task declares no labels, registry Task.has_labels)."""
    return categories_of(default_weights(model))
