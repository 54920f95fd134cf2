"""Stage tasks: one adapter module per registry Task (``Task.adapter``), owning everything about
a task that needs torch. Generic code (exports, variants, builds, predictions, parity) calls the
adapter of the model's task and never branches on the task's name.

An adapter module defines:

- ``TASK``: its registry entry.
- ``DYNAMIC_AXES`` (optional): the input axes besides the batch whose size varies from input to
  input, ``{axis index: name}`` (segmentation: H and W); exports make them dynamic
  (``tvdeploy.build.exporters``). Absent: every axis but the batch is fixed. With it, optional
  ``DYNAMIC_AXES_MIN`` and ``DYNAMIC_AXES_MULTIPLE``: the smallest size and the multiple every
  size is of (optical flow: 128 and 8), which an export needs where the model checks them.
- ``ONNX_TORCHSCRIPT_FALLBACK`` (optional, False where absent): where the dynamo ONNX export
  fails, the TorchScript-based exporter (``torch.onnx.export(dynamo=False)``) builds the graph
  instead, and the build record says which exporter built it (detection: torchvision documents
  that exporter for its detectors, which torch.export cannot capture).
- ``preprocess(source, spec) -> tuple[Tensor, ...]``: a user's input (file or folder; optical
  flow: a pair of files) as the model's input tensors for one call, in ``TASK.input_names``
  order, each written to a ``.dat`` whose sidecar records ``TASK.input_layout``; where a call
  takes several inputs, each input's file is named by ``tvdeploy.registry.paths.input_dats``.
- ``example_inputs(info, batch, seed) -> tuple[Tensor, ...]``: seeded random inputs of the model's
  input shapes, for exports, builds and parity on random input.
- ``deployable(net, example) -> (nn.Module, str)``: ``net`` wrapped so that it returns plain
  tensors (what TorchScript, ONNX, AOTInductor and OpenVINO can carry), with a description of
  what the unwrapped forward returned.
- ``output_tensor(output) -> Tensor``: a deployed module's (or eager model's) output as the one
  tensor parity compares (detection: its ``Detections``, the fields of one image's detections).
- ``compare_outputs(reference, candidate, rtol, atol) -> dict``: the parity metric on two outputs;
  its ``within_tolerance`` says whether they agree.
- ``parity_message(label, comparison) -> str``: why a comparison failed, for errors and logs.
- ``decoding_context(labels_path, topk) -> dict``: what decoding needs (category names from the
  weights' metadata, how many to report).
- ``predict(module, dat_paths, context, device) -> list[dict]``: predictions on the
  preprocessed inputs (a call's files in a row, ``tvdeploy.registry.paths.group_call_inputs``),
  one entry per input and row, in the layout the C++ ``infer`` writes for
  ``--task TASK.name``; ``context`` holds what decoding needs (e.g. labels, topk). A large
  output field is returned as a ``tvdeploy.predict.outputs.TensorOutput`` and stored as a
  ``.dat`` beside the record instead of JSON.
- ``builder_kwargs(model, weights) -> dict`` (optional): what torchvision's builder derives from
  the DEFAULT weights besides ``num_classes`` (segmentation: ``weights_backbone=None``, and
  ``aux_loss=True`` for fcn/deeplabv3), for building the architecture with ``weights=None``
  (``tvdeploy.tasks.builder_kwargs`` finds the adapter from the weights' preset).
- ``wrap_model(net) -> nn.Module`` (optional): the module every stage builds, deploys and measures
  in place of torchvision's (detection: one image in, that image's detection fields out, what
  ``preprocess`` gives and ``predict`` feeds); ``tvdeploy.catalog.models.build_model`` returns it.
- ``TRAINED_ARCHITECTURE_DIFFERS`` (optional, False where absent): torchvision's builders build
  another architecture for the DEFAULT weights than for ``weights=None`` (detection: frozen batch
  norms, whose state has no ``num_batches_tracked``); random weights then keep exactly the keys
  of the architecture built the trained way (``tvdeploy.catalog.models.random_state_dict``).
- ``random_weights_kwargs(model) -> dict`` (optional): what a model built from random weights is
  built with besides (detection: a score threshold of 0, else it returns no box); the random
  weights' provenance records them and ``tvdeploy.catalog.models.build_model`` applies them.
- ``calibrate_random(net, seed)`` (optional): gives a randomly initialised model, in place,
  statistics that make its outputs discriminate (detection: batch-norm statistics from its own
  backbone, without which every box scores alike); ``random_state_dict`` calls it before saving.
- ``compare_predictions(reference, candidate, rtol, atol, identity) -> list[dict]``: parity rows
  of two prediction records on the real inputs, their stored tensor outputs read back in
  (``tvdeploy.predict.outputs.resolve_tensor_outputs``). A row's ``within_tolerance`` is its
  verdict; ``discriminates: False`` says the outputs could not tell a wrong runtime from a right
  one (e.g. a one-class reference mask), so the row is not checked, whatever its verdict.
- ``draw_prediction(entry, sidecar, labels) -> (Tensor, str)``: where ``TASK.output_picture``
  (every task but classification), what one prediction entry (its stored tensors read back in,
  ``resolve_tensor_outputs``) shows on its real input: a uint8 ``[3, H, W]`` picture drawn with
  ``torchvision.utils`` over the source the input's ``.dat`` sidecar (``sidecar``, its ``image``
  path made readable by the caller) names, and a one-line caption; ``labels``: the model's
  category names, or None (``tvdeploy.results.pictures`` sets two deployments' pictures side by
  side).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from tvdeploy.registry.tasks import TASKS, task

# The colours the adapters' pictures (draw_prediction) give classes and detections, in turn: one
# palette, so that a class looks alike in every task's picture and in both panels of a figure.
PICTURE_COLOURS = ("#e53935", "#1e88e5", "#43a047", "#fdd835", "#8e24aa", "#fb8c00", "#00acc1", "#d81b60")


class ParityError(RuntimeError):
    """Two runtimes disagree beyond tolerance."""


def adapter(task_name: str) -> ModuleType:
    """The adapter module of a registry task."""
    return importlib.import_module(task(task_name).adapter)


def check_parity(task_name: str, label: str, comparison: dict) -> None:
    """ParityError naming ``label`` when ``comparison`` (the task's metric) is out of tolerance."""
    if not comparison["within_tolerance"]:
        raise ParityError(adapter(task_name).parity_message(label, comparison))


def task_of_weights(weights) -> str:
    """The registry task whose preset a torchvision weights enum member's transforms() is."""
    preset = getattr(weights.transforms, "func", weights.transforms).__name__
    names = [t.name for t in TASKS.values() if t.preset == preset]
    if not names:
        raise ValueError(f"{weights}: no registered task preprocesses with {preset}")
    return names[0]


def builder_kwargs(model: str, weights) -> dict:
    """What torchvision's builder of ``model`` derives from its DEFAULT ``weights`` for its task,
    beyond ``num_classes`` (the task adapter's optional ``builder_kwargs``; none where it has none),
    so that ``weights=None`` builds the architecture the weights' file fits, fetching nothing."""
    derive = getattr(adapter(task_of_weights(weights)), "builder_kwargs", None)
    return derive(model, weights) if derive is not None else {}


def trained_architecture_differs(weights) -> bool:
    """Whether the builder of DEFAULT ``weights`` builds another architecture for them than for no
    weights (the task adapter's optional ``TRAINED_ARCHITECTURE_DIFFERS``)."""
    return bool(getattr(adapter(task_of_weights(weights)), "TRAINED_ARCHITECTURE_DIFFERS", False))


def wrap_model(weights, net):
    """``net`` as every stage builds and deploys a model of its task (the adapter's optional
    ``wrap_model``; ``net`` itself where it has none)."""
    wrap = getattr(adapter(task_of_weights(weights)), "wrap_model", None)
    return wrap(net) if wrap is not None else net


def random_weights_kwargs(model: str, weights) -> dict:
    """What ``model`` is built with where its weights are random, besides what its DEFAULT
    ``weights`` ask for (the task adapter's optional ``random_weights_kwargs``; none where it has none)."""
    derive = getattr(adapter(task_of_weights(weights)), "random_weights_kwargs", None)
    return derive(model) if derive is not None else {}


def calibrate_random(weights, net, seed: int) -> None:
    """The task's calibration of a randomly initialised ``net`` (the adapter's optional
    ``calibrate_random``, in place; nothing where it has none)."""
    calibrate = getattr(adapter(task_of_weights(weights)), "calibrate_random", None)
    if calibrate is not None:
        calibrate(net, seed)
