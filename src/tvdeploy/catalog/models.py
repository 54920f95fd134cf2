"""Building torchvision models from a state_dict, and random weights shaped like the published ones.

Every model is built the way torchvision builds it for its DEFAULT pretrained weights
(same constructor arguments, e.g. googlenet's ``transform_input``), with the state_dict
handed in rather than fetched, so that random, downloaded and user-supplied weights all
give the same architecture and the same preprocessing semantics.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from tvdeploy.catalog.sheet import UnknownModelError

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


# ---------------------------------------------------------------------------------------
# TorchScript deployment variants. Each saved variant takes float32 NCHW and returns float32
# logits, so every harness feeds it identical bytes; input casts are part of the measured work.
