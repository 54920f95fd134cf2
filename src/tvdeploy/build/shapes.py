"""Which axes of an exported artifact's inputs vary, as torch.export, ONNX and OpenVINO are told
and as the build record says: the batch always, and the axes the task's adapter declares dynamic
(``DYNAMIC_AXES``: segmentation's and optical flow's H and W), each within bounds torch.export can
reason with; and the check that an export kept them dynamic."""

from __future__ import annotations

import torch

# The largest batch a dynamic-batch artifact accepts (torch.export needs an upper bound to reason
# with; the benchmarks use far less).
MAX_BATCH = 1024
# The range of a dynamic image side (torch.export needs bounds to reason with): down to a size every
# segmentation network still downsamples (output stride 32), up to 4096 px.
MIN_SIDE, MAX_SIDE = 32, 4096


def has_batch_axis(task) -> bool:
    """Whether the task's inputs have a batch axis first (its layout's N): a detector's CHW image
    has none, its first axis is the channels, and an export keeps it fixed."""
    return task.TASK.input_layout.startswith("N")


def example_batch(task, batch: int) -> int:
    """The batch of an export's example: ``batch``, or 1 where the task takes one input per call."""
    return batch if has_batch_axis(task) else 1


def dynamic_axes(task) -> dict[int, str]:
    """The axes besides the batch whose size the task's inputs vary in (its adapter's
    ``DYNAMIC_AXES``, axis index -> name; none where the adapter declares none: a fixed crop)."""
    return dict(getattr(task, "DYNAMIC_AXES", {}))


def dynamic_dims(example: tuple[torch.Tensor, ...], task, batch: bool = True) -> tuple[dict, ...] | None:
    """torch.export's dynamic_shapes: every input's first axis dynamic (one shared batch size;
    ``batch`` False, or a task without a batch axis: static), and the task's dynamic axes
    (segmentation: H and W, which follow the image), each one size shared by every input. None
    where nothing is dynamic."""
    dims = {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)} if batch and has_batch_axis(task) else {}
    low, multiple = side_range(task)
    for axis, name in dynamic_axes(task).items():
        if multiple == 1:
            dims[axis] = torch.export.Dim(name, min=low, max=MAX_SIDE)
        else:
            # A side of whole blocks: torch.export proves the model's own size checks with it.
            dims[axis] = (
                torch.export.Dim(f"{name}_blocks", min=-(-low // multiple), max=MAX_SIDE // multiple) * multiple
            )
    return tuple(dict(dims) for _ in example) if dims else None


def side_range(task) -> tuple[int, int]:
    """The smallest dynamic side and the multiple every side is of: the adapter's optional
    ``DYNAMIC_AXES_MIN`` and ``DYNAMIC_AXES_MULTIPLE`` (RAFT: 128 and 8; without them any side
    from MIN_SIDE)."""
    return max(MIN_SIDE, getattr(task, "DYNAMIC_AXES_MIN", MIN_SIDE)), getattr(task, "DYNAMIC_AXES_MULTIPLE", 1)


def openvino_shapes(example: tuple[torch.Tensor, ...], task) -> list | None:
    """convert_model's input shapes of a traced module where the task declares dynamic axes: the
    example's, with the batch and those axes dynamic (-1). None elsewhere: convert_model's own
    default (today every axis dynamic, as classification's IR has always been built)."""
    if not dynamic_axes(task):
        return None
    dynamic = {*({0} if has_batch_axis(task) else ()), *dynamic_axes(task)}
    return [[-1 if axis in dynamic else size for axis, size in enumerate(x.shape)] for x in example]


def dynamic_record(task) -> dict:
    """What a build record says about the artifact's dynamic axes besides the batch (and that
    it has no batch, where the task's inputs have none)."""
    low, multiple = side_range(task)
    record = {f"dynamic_{name}": [low, MAX_SIDE] for name in dynamic_axes(task).values()}
    if not has_batch_axis(task):
        record["batch_axis"] = False
    return {**record, "dynamic_multiple": multiple} if record and multiple != 1 else record


def onnx_input_shapes(model) -> dict[str, list]:
    """Each graph input's shape: a size, or the name of a dynamic axis."""
    return {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}


class SpecialisedExport(RuntimeError):
    """An export fixed an axis asked to be dynamic: the artifact would refuse every other size."""


def check_dynamic_inputs(input_shapes: dict[str, list], task) -> None:
    """SpecialisedExport where the exported graph fixed an axis that was asked to be dynamic (the
    batch, and the task's DYNAMIC_AXES): the dynamo exporter can fall back to the example's
    size without failing (raft_small: batch 2, torch 2.14.1), and the record would claim a
    dynamic batch while every run at another batch fails."""
    dynamic = {**({0: "batch"} if has_batch_axis(task) else {}), **dynamic_axes(task)}
    for name, shape in input_shapes.items():
        fixed = [
            f"{dynamic[axis]} = {size}" for axis, size in enumerate(shape) if axis in dynamic and isinstance(size, int)
        ]
        if fixed:
            raise SpecialisedExport(
                f"the exported graph fixed input '{name}' ({', '.join(fixed)}; shape {shape}), asked to be dynamic"
            )
