"""Snakemake script for rule quantize_artifact: the int8 folder of one model's ONNX or OpenVINO
artifact, quantized from its float32 folder and calibrated on the model's first inputs, with its
build record (also written apart for the tables); a failed quantization is recorded there and the
run goes on."""

import torch

from tvdeploy.build.quantize import calibration_set
from tvdeploy.build.quantized import quantize_artifact
from tvdeploy.build.recording import build_provenance
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import read_json, setup_script_logging, write_json_atomic
from tvdeploy.registry import paths, task

log = setup_script_logging(snakemake)
info = ModelInfo(**snakemake.params.info)
torch.set_num_threads(snakemake.threads)
calls = [files for _, files in paths.group_call_inputs(snakemake.input.dats, task(info.task).input_names)]
record = quantize_artifact(
    snakemake.wildcards.artifact,
    snakemake.input.source,
    snakemake.output.artifact,
    calibration_set(calls, len(calls)),
    snakemake.wildcards.variant,
    record=build_provenance(info, read_json(snakemake.input.weights_provenance), snakemake.params.timeout_s),
    timeout_s=snakemake.params.timeout_s,
    log=log,
)
write_json_atomic(snakemake.output.record, record)
log.info(
    "%s %s %s: %s in %.1f s, peak %.0f MB%s",
    snakemake.wildcards.artifact, snakemake.wildcards.variant, info.model, record["status"], record["build_s"],
    record["peak_rss_mb"], f" ({record['error_class']}: {record['error']})" if record["error"] else "",
)  # fmt: skip
