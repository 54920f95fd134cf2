"""The calibrated variants (int8) of the built artifacts: each quantized from the float32 folder of
its runtime (ONNX for ONNX Runtime, OpenVINO IR for OpenVINO) by that runtime's own tool
(tvdeploy.build.quantize), into a folder of its own with a build record like every build's
(tvdeploy.build.recording): the tool and its settings (``quantization``), the calibration
inputs with their hashes, and the float32 build it came from. A float32 artifact that was not built gives an int8 record
that says so, with the float32 failure's class and upstream issues."""

from __future__ import annotations

import os
from pathlib import Path

from tvdeploy.build.quantize import Calibration, quantize_onnx, quantize_openvino
from tvdeploy.build.recording import peak_rss_mb, phase, record_build
from tvdeploy.build.records import BUILD_RECORD, read_build
from tvdeploy.files import atomic_directory, write_json_atomic
from tvdeploy.registry import ONNX, OPENVINO, QUANTIZED_ARTIFACTS
from tvdeploy.registry.failures import QUANTIZATION_ERROR


def onnx_input_names(path: Path) -> list[str]:
    """The graph's inputs, in order (weights are initializers, not inputs, in torch's exports)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    return [i.name for i in graph.input if i.name not in initializers]


def _quantize_onnx(source: Path, staging: Path, calibration: Calibration, float_build: dict) -> dict:
    # Weights beyond protobuf's 2 GB were saved beside the float32 graph (its record says so);
    # the quantized graph is written the same way (ONNX Runtime follows the side file by path).
    external = bool(float_build.get("external_data"))
    with phase(QUANTIZATION_ERROR):
        settings = quantize_onnx(source, staging / source.name, calibration, onnx_input_names(source), external)
    return {"quantization": settings, "external_data": external}


def _quantize_openvino(source: Path, staging: Path, calibration: Calibration, float_build: dict) -> dict:
    import openvino as ov

    with phase(QUANTIZATION_ERROR):
        quantized, settings = quantize_openvino(ov.Core().read_model(str(source)), calibration)
        # float32 where the IR keeps floats (save_model would halve them to fp16 by default).
        ov.save_model(quantized, str(staging / source.name), compress_to_fp16=False)
    return {"quantization": settings}


QUANTIZERS = {ONNX: _quantize_onnx, OPENVINO: _quantize_openvino}
if set(QUANTIZERS) != set(QUANTIZED_ARTIFACTS):
    raise AssertionError(f"quantizers {sorted(QUANTIZERS)} do not match the registry's {sorted(QUANTIZED_ARTIFACTS)}")


def quantize_artifact(
    kind: str,
    source: str | os.PathLike,
    dest: str | os.PathLike,
    calibration: Calibration,
    variant: str,
    record: dict | None = None,
    timeout_s: float = 0,
    log=None,
) -> dict:
    """Quantize the float32 ``kind`` artifact folder ``source`` into the folder ``dest`` (failed or
    not) and return its build record (also ``dest/build.json``)."""
    if kind not in QUANTIZERS:
        raise ValueError(f"no int8 path for {kind} artifacts (known: {', '.join(QUANTIZERS)})")
    source = Path(source)
    float_build = read_build(source)
    built = {
        "artifact": kind,
        "variant": variant,
        "file": float_build["file"],
        "calibration": calibration.record,
        "quantized_from": {key: float_build.get(key) for key in ("variant", "status", "method", "build_s")},
        **(record or {}),
    }
    if float_build["status"] != "ok":
        return _record_unbuilt_source(dest, built, float_build)
    quantizer = QUANTIZERS[kind]

    def build(staging: Path) -> dict:
        return quantizer(source / float_build["file"], staging, calibration, float_build)

    return record_build(dest, built, build, timeout_s, log)


def _record_unbuilt_source(dest: str | os.PathLike, built: dict, float_build: dict) -> dict:
    """Nothing to quantize: the record carries the float32 build's failure, as its own."""
    built.update(
        status="failed",
        error_class=float_build["error_class"],
        error=f"its float32 {built['artifact']} artifact was not built: {float_build['error']}",
        build_s=0.0,
        peak_rss_mb=peak_rss_mb(),
    )
    if float_build.get("upstream"):
        built["upstream"] = float_build["upstream"]
    with atomic_directory(dest) as staging:
        write_json_atomic(staging / BUILD_RECORD, built)
    return built
