"""Snakemake script for rules export_onnx, convert_openvino and package_aoti: the artifact folder
of one model (an int8 package calibrated on the rule's input dats), with its build record (also
written apart for the tables); a failed build is recorded there and the run goes on."""

import torch

from tvdeploy.build.exporters import EXAMPLE_BATCH, aoti_inductor_configs, build_artifact
from tvdeploy.build.quantize import calibration_set
from tvdeploy.build.recording import build_provenance
from tvdeploy.build.shapes import example_batch
from tvdeploy.catalog.models import build_model
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import read_json, setup_script_logging, write_json_atomic
from tvdeploy.harnesses.device import resolve_device
from tvdeploy.registry import PLAIN, VARIANTS, paths
from tvdeploy.tasks import adapter

log = setup_script_logging(snakemake)
info = ModelInfo(**snakemake.params.info)
task = adapter(info.task)
torch.set_num_threads(snakemake.threads)
# A device this machine lacks stops the job (a configuration error, not the model's failure).
device = resolve_device(snakemake.wildcards.get("device", "cpu"))

net = build_model(info.model, snakemake.input.weights)
options = {}
variant = snakemake.wildcards.get("variant", PLAIN)
if VARIANTS[variant].calibrated:
    # int8: quantized on the model's first inputs (rule input dats), as the peers' int8 are.
    calls = [files for _, files in paths.group_call_inputs(snakemake.input.dats, task.TASK.input_names)]
    options["calibration"] = calibration_set(calls, len(calls))
if "aoti_threads" in snakemake.params.keys():
    threads = snakemake.params.aoti_threads if device.type == "cpu" else None  # CPU kernels only
    options["inductor_configs"] = aoti_inductor_configs(threads, snakemake.params.aoti_max_autotune)
    options["static_batch"] = snakemake.params.aoti_static_batch
record = build_artifact(
    snakemake.params.artifact,
    net,
    # A task without a batch axis (a detector's one image) exports from one input.
    task.example_inputs(info, example_batch(task, EXAMPLE_BATCH), snakemake.params.seed),
    snakemake.output.artifact,
    task,
    record=build_provenance(info, read_json(snakemake.input.provenance), snakemake.params.timeout_s),
    timeout_s=snakemake.params.timeout_s,
    log=log,
    device=device,
    options=options,
    # The AOTInductor packages are built per variant (float32, fp16, int8); the others in float32.
    variant=variant,
)
write_json_atomic(snakemake.output.record, record)
log.info(
    "%s %s: %s in %.1f s, peak %.0f MB%s",
    snakemake.params.artifact, info.model, record["status"], record["build_s"], record["peak_rss_mb"],
    f" ({record['error_class']}: {record['error']})" if record["error"] else "",
)  # fmt: skip
