"""Snakemake script for rule aggregate: the result tables."""

import pandas as pd

from tvdeploy.build.records import failure_of
from tvdeploy.files import atomic_path, read_json, setup_script_logging, write_json_atomic, write_text_atomic
from tvdeploy.host.environment import capture
from tvdeploy.plan.targets import COMPARE, HARNESS_OVERHEAD, STAGES
from tvdeploy.registry import CLASSIFICATION, EAGER, PLAIN
from tvdeploy.results.accuracy import accuracy_table, imagenet_class_indices
from tvdeploy.results.deployability import deployability_table
from tvdeploy.results.float_agreement import float_agreement_table
from tvdeploy.results.frames import (
    builds_table,
    latency_table,
    overhead_table,
    predictions_table,
    ratios_table,
    with_task,
)
from tvdeploy.results.jobs import job_max_rss_mb, job_seconds, time_by_stage, timed_jobs
from tvdeploy.results.markdown import latency_page
from tvdeploy.results.parity import parity_table

log = setup_script_logging(snakemake)
params = snakemake.params
this_run, other = params.run, params.other
weights_source = {model: read_json(path)["source"] for model, path in params.provenance.items()}


def write_csv(table, dest):
    with atomic_path(dest, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def write_model_table(table, dest):
    """A table of models, with each model's task beside it."""
    write_csv(with_task(table, params.tasks), dest)


def with_run(path, run, **fields):
    record = read_json(path)
    record.update(run=run, **fields)
    return record


def all_runs(own_paths, kind):
    """This run's raw results, then those of every other run copied in under results/runs/."""
    own = [with_run(p, this_run) for p in own_paths]
    return own + [with_run(item["path"], item["run"]) for item in other[kind]]


comparison_records = all_runs(snakemake.input.comparisons, "comparisons")
overhead_records = all_runs(snakemake.input.overhead, "overhead")
# Other runs' weights sources come from their comparison records (their provenance files stayed home).
for record in comparison_records:
    if record["run"] != this_run:
        weights_source.setdefault((record["run"], record["model"]), record.get("weights_source"))
latency = latency_table(comparison_records, params.gmacs, params.quantized)
write_model_table(latency, snakemake.output.latency_csv)
ratios = ratios_table(comparison_records)
write_model_table(ratios, snakemake.output.ratios)
overhead = overhead_table(overhead_records)
write_csv(overhead, snakemake.output.overhead)

own_records = [r for r in comparison_records + overhead_records if r["run"] == this_run]
environment = capture(snakemake.config, params.repo, [r["environment"] for r in own_records])
environment["run"] = this_run
# The variants and deployments the config chose that this run did not run, and why.
environment["not_run"] = params.not_run
environment["other_runs"] = sorted({r["run"] for r in comparison_records + overhead_records} - {this_run})
# Where this run's time went, up to these tables (this job's own time is in its benchmark file,
# written when it ends; the catalog page counts it).
jobs, untimed = timed_jobs(
    snakemake.input.jobs,
    {rule: [r for r in records if r["run"] == this_run] for rule, records in
     ((COMPARE, comparison_records), (HARNESS_OVERHEAD, overhead_records))},
)  # fmt: skip
if jobs:
    environment["time_by_stage"] = {**time_by_stage(jobs, STAGES), "untimed_jobs": untimed}
    log.info("wall time %.0f s by stage: %s", environment["time_by_stage"]["wall_s"], environment["time_by_stage"])
write_json_atomic(snakemake.output.environment, environment)

identity = ("model", "runtime", "variant", "device")
predictions = [with_run(item["file"], this_run, **{k: item[k] for k in identity}) for item in params.predictions]
predictions += [
    with_run(
        item["path"], item["run"], weights_source=weights_source.get((item["run"], item["model"])),
        **{k: item[k] for k in identity},
    )
    for item in other["predictions"]
]  # fmt: skip
parity_records = all_runs(snakemake.input.parity, "parity")
predictions_frame = predictions_table(predictions, weights_source)
write_model_table(predictions_frame, snakemake.output.predictions)
log.info("wrote %d latency rows, %d ratios", len(latency), len(ratios))
parity = parity_table(parity_records, weights_source)
write_model_table(parity, snakemake.output.parity)
write_model_table(deployability_table(predictions, parity, latency), snakemake.output.deployability)

# Accuracy on a labeled images folder (none: an empty table), then the page that judges by it.
floor = snakemake.config["accuracy_floor"]
class_of = imagenet_class_indices(set(params.image_labels.values())) if params.image_labels else {}
labels = {image: class_of[wnid] for image, wnid in params.image_labels.items()}
classifiers = [model for model, task in params.tasks.items() if task == CLASSIFICATION]
accuracy = accuracy_table(predictions_frame, labels, floor, classifiers, params.quantized)
write_model_table(accuracy, snakemake.output.accuracy)
# Each eager-quantized model's deployments against its float model's eager predictions: the float
# model's own run where the config selects it, else the reference predicted beside it.
float_references = [
    with_run(item["file"], this_run, **{k: item[k] for k in identity}) for item in params.float_references
]
# A run's models share its weights (config weights): another run's reference takes those of any of
# its comparison records.
run_weights = {key[0]: source for key, source in weights_source.items() if isinstance(key, tuple)}
float_references += [
    with_run(
        item["path"], item["run"], weights_source=run_weights.get(item["run"]),
        runtime=EAGER, variant=PLAIN, **{k: item[k] for k in ("model", "device")},
    )
    for item in other["float_references"]
]  # fmt: skip
beside_references = (
    pd.concat([predictions_frame, predictions_table(float_references, weights_source)])
    if float_references
    else predictions_frame
)
float_agreement = float_agreement_table(beside_references, params.float_counterparts)
write_model_table(float_agreement, snakemake.output.float_agreement)
resolution = snakemake.config["compare"]["resolution"]
goals = snakemake.config.get("goals", {})
write_text_atomic(
    snakemake.output.latency_md,
    latency_page(latency, ratios, overhead, environment, goals, resolution, accuracy, floor),
)


def build_row(item):
    """One artifact's build: its record (a built artifact's record, or an export's metadata) and
    its job's wall time and peak memory."""
    record = read_json(item["record"])
    error, error_class = failure_of(record)
    return {
        "run": this_run,
        "model": item["model"],
        "artifact": item["artifact"],
        "status": record.get("status", "ok"),
        # How it was built (torch.jit.script, which ONNX exporter, which OpenVINO conversion).
        "method": record.get("method"),
        "error_class": error_class,
        "build_s": record.get("build_s", record.get("export_s")),
        "job_s": job_seconds(item["job"]),
        "job_max_rss_mb": job_max_rss_mb(item["job"]),
        "error": error,
    }


write_model_table(builds_table([build_row(item) for item in params.builds]), snakemake.output.builds)
