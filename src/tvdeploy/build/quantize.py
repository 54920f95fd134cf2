"""Static int8 quantization of a deployment, each runtime through its own maintained tool,
calibrated on the run's own inputs: OpenVINO IR through NNCF, an ONNX graph through ONNX
Runtime's static quantization (QDQ), and the nn.Module through PyTorch's current path (PT2E with
torchao's X86InductorQuantizer, then AOTInductor or torch.compile). Every path calibrates on the
same set (``calibration_set``: the first ``count`` preprocessed inputs of the configured folder,
never random noise), and its record names those inputs and the tool's settings.

Weights are quantized per output channel and activations per tensor, symmetric int8 weights and
unsigned 8-bit activations where the tool lets one choose (the u8s8 products VNNI and AMX run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from tvdeploy.host.devices import read_cpu_flags
from tvdeploy.inputs import input_sha256
from tvdeploy.inputs.dat import read_dat
from tvdeploy.registry.failures import error_line
from tvdeploy.registry.precisions import INT8, skip_reason


@dataclass(frozen=True)
class Calibration:
    """What int8 paths calibrate on: each call's arguments, and the record of where they came from."""

    calls: list[tuple[torch.Tensor, ...]]
    record: dict


def calibration_set(calls: Sequence[Sequence[str | Path]], count: int) -> Calibration:
    """The first ``count`` of ``calls`` (each the .dat files of one model call, in argument order),
    read in. Fewer inputs than ``count`` is an error: a smaller set than configured would calibrate
    each path on other data than the record claims."""
    if count < 1:
        raise ValueError(f"calibration needs at least one input, not {count}")
    if len(calls) < count:
        raise ValueError(
            f"calibration asks for {count} inputs but the configured inputs give {len(calls)}: "
            "add inputs or lower the count"
        )
    chosen = [[Path(dat) for dat in call] for call in calls[:count]]
    return Calibration(
        calls=[tuple(read_dat(dat) for dat in call) for call in chosen],
        record={
            "count": count,
            "inputs": [[{"dat": dat.name, "sha256": input_sha256(dat)} for dat in call] for call in chosen],
        },
    )


def quantize_openvino(model, calibration: Calibration):
    """An OpenVINO model with int8 FakeQuantize operations from NNCF's post-training quantization
    (its default performance preset: symmetric weights and activations, fast bias correction),
    statistics from every calibration input. Returns (model, settings)."""
    import nncf

    def as_inputs(call: tuple[torch.Tensor, ...]):
        arrays = [x.numpy() for x in call]
        return arrays[0] if len(arrays) == 1 else arrays

    dataset = nncf.Dataset(calibration.calls, as_inputs)
    quantized = nncf.quantize(model, dataset, subset_size=len(calibration.calls))
    return quantized, {"tool": "nncf.quantize", "version": nncf.__version__, "preset": "performance"}


def quantize_onnx(
    source: Path,
    destination: Path,
    calibration: Calibration,
    input_names: Sequence[str],
    external_data: bool = False,
    reduce_range: bool | None = None,
) -> dict:
    """``source`` (a float32 ONNX graph) statically quantized into ``destination`` as QDQ (the
    format ONNX Runtime fuses into int8 kernels): shape inference and optimisation first, as ONNX
    Runtime's quantization tool asks, then per-channel int8 weights and uint8 activations from
    MinMax calibration on every calibration input. ``external_data``: the source keeps its
    weights in a side file, and so does the result. ``reduce_range``: 7-bit weights, by default
    where this CPU has no VNNI: there ONNX Runtime's u8s8 products go through VPMADDUBSW, whose
    16-bit pair sums saturate (measured on an AVX2 EPYC: 0.11-0.23 of the logits' scale off, 0.007
    with 7-bit weights; the tool's documentation advises the same). The workflow quantizes only
    where int8 is native, so its artifacts keep 8-bit weights. Returns the settings."""
    import onnxruntime
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if reduce_range is None:
        reduce_range = skip_reason(INT8, "cpu", read_cpu_flags()) is not None

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.calls = iter(calibration.calls)

        def get_next(self):
            call = next(self.calls, None)
            return None if call is None else {name: x.numpy() for name, x in zip(input_names, call, strict=True)}

    prepared = destination.with_name(destination.stem + ".preprocessed.onnx")
    prepared_data = prepared.with_name(prepared.name + ".data")
    try:
        # The tool's advice, not its requirement: a graph its symbolic shape inference cannot
        # follow is quantized as exported, and the settings say so.
        try:
            quant_pre_process(
                str(source),
                str(prepared),
                save_as_external_data=external_data,
                all_tensors_to_one_file=True,
                external_data_location=prepared_data.name,
            )
            preprocess_error = None
        except Exception as err:
            preprocess_error = error_line(err)
        quantize_static(
            str(source if preprocess_error else prepared),
            str(destination),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            reduce_range=reduce_range,
            use_external_data_format=external_data,
        )
    finally:
        prepared.unlink(missing_ok=True)
        prepared_data.unlink(missing_ok=True)
    return {
        "tool": "onnxruntime.quantization.quantize_static",
        "version": onnxruntime.__version__,
        "format": "QDQ",
        "per_channel": True,
        "activation_type": "uint8",
        "weight_type": "int8",
        "reduce_range": reduce_range,
        "calibration_method": "MinMax",
        "preprocessed": preprocess_error is None,
        **({"preprocess_error": preprocess_error} if preprocess_error else {}),
    }


def quantize_pt2e(net: nn.Module, example: tuple[torch.Tensor, ...], calibration: Calibration, dynamic_shapes=None):
    """``net`` exported and quantized by torchao's X86InductorQuantizer (its default static
    config), calibrated on every calibration input; the converted GraphModule is what AOTInductor
    or torch.compile lowers to int8 kernels. The export is strict: the non-strict default records
    a module's calls by its path, so a module called twice (the ReLU of torchvision's BasicBlock)
    becomes one partition with two outputs, which the quantizer refuses. ``dynamic_shapes``: as
    torch.export takes them (a dynamic batch), kept by the converted module. Returns (module,
    settings)."""
    import torchao
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    exported = torch.export.export(net.eval(), example, dynamic_shapes=dynamic_shapes, strict=True).module()
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for call in calibration.calls:
            prepared(*call)
    converted = convert_pt2e(prepared)
    return converted, {
        "tool": "torchao.quantization.pt2e (X86InductorQuantizer, default static config)",
        "version": torchao.__version__,
        "export": "torch.export.export(strict=True)",
    }
