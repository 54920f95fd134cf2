"""Artifacts built from the nn.Module for the peer runtimes (ONNX for ONNX Runtime, OpenVINO IR for
OpenVINO), each into a folder of its own with a build record.

A build that fails is an outcome, not a crash: the folder then holds only ``build.json`` with the
error and its class (unsupported operator, export error, compile error, timeout, out of memory),
so the rest of the run goes on and the deployability matrix shows why. A harness asked to load a
failed artifact raises ``ArtifactUnavailable`` with that error. The folder appears complete or not
at all (it is built beside its destination and renamed into place). Reading a built folder is
``tvdeploy.build.records`` (torch-free).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tvdeploy.build.recording import PhaseError, phase, record_build
from tvdeploy.build.shapes import (
    MAX_BATCH,
    check_dynamic_inputs,
    dynamic_axes,
    dynamic_dims,
    dynamic_record,
    has_batch_axis,
    onnx_input_shapes,
    openvino_shapes,
)
from tvdeploy.build.torchscript import wrap
from tvdeploy.registry import FP16, PLAIN, VARIANTS
from tvdeploy.registry.failures import (
    COMPILE_ERROR,
    CONVERSION_ERROR,
    EXPORT_ERROR,
    QUANTIZATION_ERROR,
    error_text,
    upstream_issues,
)

ONNX_FILE = "model.onnx"
OPENVINO_FILE = "model.xml"
AOTI_FILE = "model.pt2"
# ONNX's protobuf cannot hold more than 2 GB; larger models keep their weights in a side file.
ONNX_INLINE_LIMIT_BYTES = 1_800_000_000
ONNX_OPSET = 20
# torch.export specialises a dimension whose example size is 0 or 1, so the example batch is 2.
EXAMPLE_BATCH = 2
# The batch of an AOTInductor package compiled for a static shape (single-stream latency).
STATIC_BATCH = 1


def plain_output_module(net: nn.Module, example: tuple[torch.Tensor, ...], task) -> nn.Module:
    """``net`` returning only plain tensors, as its task adapter wraps it (googlenet and
    inception_v3 return a namedtuple in some modes); exporters need tensors out."""
    # Probed where the module already is (a caller may hand over a module moved to the GPU).
    where = next((p.device for p in net.parameters()), example[0].device)
    one = tuple(x[:1] if has_batch_axis(task) else x for x in example)
    with torch.inference_mode():
        output = net(*(x.to(where) for x in one))
    return task.deployable(net, output)[0]


def variant_module(net: nn.Module, variant: str, inputs: int = 1) -> nn.Module:
    """The module a built artifact of ``variant`` is made from: float32 as it is (a calibrated
    variant, int8, is quantized by its builder from it), or half precision with float32 in and out
    (the same wrapper as the fp16 TorchScript export) for a model of ``inputs`` inputs."""
    if variant == PLAIN or VARIANTS[variant].calibrated:
        return net
    if variant == FP16:
        return wrap("half", net.half(), inputs).eval()
    raise ValueError(f"no artifact is built in variant '{variant}' (built: {PLAIN}, {FP16})")


def parameter_bytes(net: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])


DYNAMO_EXPORTER = "torch.onnx.export(dynamo=True)"
TORCHSCRIPT_EXPORTER = "torch.onnx.export(dynamo=False)"


def export_onnx(net: nn.Module, example: tuple[torch.Tensor, ...], folder: Path, device: torch.device, task) -> dict:
    """The torch.export-based ONNX exporter (dynamo) with a dynamic batch; weights beside the graph
    only where the 2 GB protobuf limit forces it. Where it fails and the task's adapter names the
    TorchScript-based exporter as its fallback (``ONNX_TORCHSCRIPT_FALLBACK``: torchvision documents
    it for its detectors), that exporter builds the graph instead, and the record says which
    exporter built it and why the first did not. Returns what the build record keeps."""
    import onnx

    external = parameter_bytes(net) > ONNX_INLINE_LIMIT_BYTES
    attempts = []
    method = DYNAMO_EXPORTER
    try:
        with phase(EXPORT_ERROR):
            program = torch.onnx.export(
                net,
                example,
                dynamo=True,
                input_names=list(task.TASK.input_names),
                output_names=list(task.TASK.output_names),
                dynamic_shapes=dynamic_dims(example, task),
                opset_version=ONNX_OPSET,
                verbose=False,
            )
            program.save(str(folder / ONNX_FILE), external_data=external)
            _check_onnx(folder, task)
    except PhaseError as err:
        if not getattr(task, "ONNX_TORCHSCRIPT_FALLBACK", False):
            raise
        first = error_text(err.__cause__)
        attempts.append({"method": DYNAMO_EXPORTER, "error": first, "upstream": upstream_issues(first, "onnx")})
        for leftover in folder.iterdir():
            leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
        method = TORCHSCRIPT_EXPORTER
        try:
            with phase(EXPORT_ERROR):
                _export_onnx_torchscript(net, example, folder, task)
                _check_onnx(folder, task)
        except PhaseError as fallback:
            # Both exporters' errors in one: the record classifies and names upstream issues of either.
            raise PhaseError(EXPORT_ERROR) from RuntimeError(
                f"{first}; the TorchScript-based exporter ({TORCHSCRIPT_EXPORTER}) failed too: "
                f"{error_text(fallback.__cause__)}"
            )
    input_shapes = onnx_input_shapes(onnx.load(str(folder / ONNX_FILE), load_external_data=False))
    return {
        "method": method,
        "exporter": "dynamo" if method == DYNAMO_EXPORTER else "torchscript",
        "failed_attempts": attempts,
        "opset": ONNX_OPSET,
        "external_data": external,
        **({"dynamic_batch": [1, MAX_BATCH]} if has_batch_axis(task) else {}),
        **dynamic_record(task),
        "input_shapes": input_shapes,
        "versions": {"onnx": onnx.__version__},
    }


def _check_onnx(folder: Path, task) -> None:
    """The file must be a valid model (the checker follows external data by path) that kept the
    axes asked to be dynamic."""
    import onnx

    onnx.checker.check_model(str(folder / ONNX_FILE))
    check_dynamic_inputs(onnx_input_shapes(onnx.load(str(folder / ONNX_FILE), load_external_data=False)), task)


def _export_onnx_torchscript(net: nn.Module, example: tuple[torch.Tensor, ...], folder: Path, task) -> None:
    """The TorchScript-based exporter (it traces ``net`` on ``example``), with the batch and the
    task's dynamic axes named dynamic as that exporter's ``dynamic_axes`` says them, and every
    output's first axis (a detector's number of detections)."""
    names = list(task.TASK.input_names)
    axes = {**({0: "batch"} if has_batch_axis(task) else {}), **dynamic_axes(task)}
    outputs = list(task.TASK.output_names)
    torch.onnx.export(
        net,
        example,
        str(folder / ONNX_FILE),
        dynamo=False,
        input_names=names,
        output_names=outputs,
        dynamic_axes={**{n: axes for n in names}, **{o: {0: f"{o}_rows"} for o in outputs}},
        opset_version=ONNX_OPSET,
    )


def convert_openvino(
    net: nn.Module, example: tuple[torch.Tensor, ...], folder: Path, device: torch.device, task
) -> dict:
    """OpenVINO IR (float32 weights: save_model would halve them to fp16 by default), converted
    from the traced module and, where tracing or its conversion fails, from a torch.export
    program (OpenVINO's documented alternative)."""
    import openvino as ov

    attempts = []
    model = None
    for method in ("trace", "torch.export"):
        try:
            with phase(CONVERSION_ERROR), torch.no_grad():
                if method == "trace":
                    model = ov.convert_model(
                        net,
                        example_input=example[0] if len(example) == 1 else example,
                        input=openvino_shapes(example, task),
                    )
                else:
                    program = torch.export.export(net, example, dynamic_shapes=dynamic_dims(example, task))
                    model = ov.convert_model(program)
            break
        except PhaseError as err:
            attempts.append({"method": method, "error": error_text(err.__cause__)})
            if method == "torch.export":
                raise
    ov.save_model(model, str(folder / OPENVINO_FILE), compress_to_fp16=False)
    return {
        "method": f"openvino.convert_model ({method})",
        "failed_attempts": attempts,
        "input_shape": str(model.inputs[0].partial_shape),
        # Every input's, in the model's order (optical flow: both images').
        "input_shapes": [str(i.partial_shape) for i in model.inputs],
        **dynamic_record(task),
        "compress_to_fp16": False,
        "versions": {"openvino": ov.get_version()},
    }


# Inductor settings of every AOTInductor package. Freezing inlines the weights as constants and
# folds them (it only happens when grad is off during compilation, hence no_grad below); with it
# Inductor prepacks convolution and linear weights into oneDNN's blocked layouts once, at compile
# time (its default, stated so the record shows it).
AOTI_BASE_CONFIGS = {"freezing": True, "cpp.weight_prepack": True}


def aoti_inductor_configs(threads: int | None = None, max_autotune: bool = False) -> dict:
    """The Inductor settings of a package. ``threads`` None: dynamic threads, the kernels follow
    the thread count set at run time (else Inductor compiles in the build job's count); a number:
    that count compiled into every parallel loop (no run-time query, loop chunks sized for it),
    for a package timed on exactly that many threads. ``max_autotune``: GEMMs benchmarked at
    compile time between Inductor's C++ templates and ATen, the fastest kept (on the CPU the
    convolutions stay oneDNN's)."""
    configs = dict(AOTI_BASE_CONFIGS)
    configs.update({"cpp.threads": threads} if threads else {"cpp.dynamic_threads": True})
    if max_autotune:
        configs.update({"max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"})
    return configs


AOTI_INDUCTOR_CONFIGS = aoti_inductor_configs()


def package_aoti(
    net: nn.Module,
    example: tuple[torch.Tensor, ...],
    folder: Path,
    device: torch.device,
    task,
    inductor_configs: dict | None = None,
    static_batch: bool = False,
    calibration=None,
) -> dict:
    """torch.export, then AOTInductor into a .pt2 package for ``device`` with
    ``inductor_configs`` (aoti_inductor_configs(); by default dynamic threads). The batch is
    dynamic, or with ``static_batch`` fixed at 1: Inductor prepacks convolution weights into
    oneDNN's blocked layout only for static input shapes, and with a dynamic batch every
    convolution reorders its weights on every call instead (resnet50 on 2 cores: 53 reorders,
    ~20 ms of a 61 ms forward; 41 ms with the batch static). With a ``calibration``
    (tvdeploy.build.quantize.Calibration) the package is int8: the module quantized by PT2E
    (quantize_pt2e) and exported again, which Inductor lowers to oneDNN's int8 kernels."""
    settings = dict(inductor_configs or AOTI_INDUCTOR_CONFIGS)
    from torch._inductor import aoti_compile_and_package
    from torch._inductor.cpu_vec_isa import pick_vec_isa

    net, example = net.to(device), tuple(x.to(device) for x in example)
    if static_batch:
        example = tuple(x[:STATIC_BATCH] if has_batch_axis(task) else x for x in example)
    dynamic = dynamic_dims(example, task, batch=not static_batch)
    quantization = {}
    if calibration is not None:
        from tvdeploy.build.quantize import quantize_pt2e

        with phase(QUANTIZATION_ERROR):
            net, quantization = quantize_pt2e(net, example, calibration, dynamic)
    with phase(EXPORT_ERROR):
        program = torch.export.export(net, example, dynamic_shapes=dynamic)
    with phase(COMPILE_ERROR), torch.no_grad():
        # A copy: the compiler adds its own keys to the dict it is given.
        configs = dict(settings)
        aoti_compile_and_package(program, package_path=str(folder / AOTI_FILE), inductor_configs=configs)
    return {
        "method": "torch.export.export + torch._inductor.aoti_compile_and_package",
        "device": device.type,
        "inductor_configs": settings,
        # The generated CPU code uses this machine's instruction set (-march=native).
        "cpu_vec_isa": str(pick_vec_isa()) if device.type == "cpu" else None,
        **({"static_batch": STATIC_BATCH} if static_batch else {"dynamic_batch": [1, MAX_BATCH]}),
        **dynamic_record(task),
        # As the peers' int8 records: the tool's settings and the inputs it calibrated on.
        **({"quantization": quantization, "calibration": calibration.record} if quantization else {}),
    }


# The builder of each artifact kind (registry.Runtime.artifact) and the file its harness loads.
BUILDERS: dict[str, tuple[Callable[..., dict], str]] = {
    "onnx": (export_onnx, ONNX_FILE),
    "openvino": (convert_openvino, OPENVINO_FILE),
    "aoti": (package_aoti, AOTI_FILE),
}


def build_artifact(
    kind: str,
    net: nn.Module,
    example: tuple[torch.Tensor, ...],
    dest: str | os.PathLike,
    task,
    record: dict | None = None,
    timeout_s: float = 0,
    log=None,
    device: torch.device | None = None,
    options: dict | None = None,
    variant: str = PLAIN,
) -> dict:
    """Build the ``kind`` artifact of ``net`` in ``variant`` (variant_module) into the folder
    ``dest``, failed or not, and return its build record (also written as ``dest/build.json``):
    status, error class and error, wall time, this process's peak memory, and what the builder
    reports. ``options`` go to the builder (package_aoti's ``inductor_configs``)."""
    builder, payload = BUILDERS[kind]
    if VARIANTS[variant].calibrated and "calibration" not in (options or {}):
        raise ValueError(f"a {variant} {kind} artifact is quantized on calibration inputs, and none were given")
    built = {"artifact": kind, "variant": variant, "file": payload, **(record or {})}
    # An unknown variant is this code's error, not the model's: raised before any folder exists.
    net = variant_module(plain_output_module(net, example, task), variant, len(example))
    return record_build(
        dest,
        built,
        lambda staging: builder(net, example, staging, device or torch.device("cpu"), task, **(options or {})),
        timeout_s,
        log,
    )
