"""Snakemake script for rule check_parity: compare the predictions of runtimes on the real images,
by the model's task's own metric (classification: logits and top-5; segmentation: argmax masks).

Everything is recorded, nothing stops the run: a pair whose candidate or reference could not be
deployed is listed with that error, a pair beyond its tolerance is logged as an error and shown
in the tables, the summary and the deployability matrix, and a pair whose outputs cannot
discriminate (``discriminates: false``) is logged as not checked."""

from tvdeploy.files import read_json, setup_script_logging, write_json_atomic
from tvdeploy.predict.outputs import resolve_tensor_outputs
from tvdeploy.results.parity import metric_fields
from tvdeploy.tasks import adapter

log = setup_script_logging(snakemake)
task = adapter(snakemake.params.task)
rows, unavailable = [], []
for pair in snakemake.params.pairs:
    identity = {
        "model": snakemake.wildcards.model,
        "device": snakemake.wildcards.device,
        "runtime": pair["runtime"],
        "variant": pair["variant"],
        "reference": pair["reference"],
    }
    reference, candidate = read_json(pair["reference_file"]), read_json(pair["candidate_file"])
    failed = [(side, p) for side, p in (("candidate", candidate), ("reference", reference)) if p.get("error")]
    if failed:
        side, prediction = failed[0]
        unavailable.append({**identity, "failed": side, "error": prediction["error"]})
        log.warning("%s/%s vs %s not compared: %s failed", pair["runtime"], pair["variant"], pair["reference"], side)
        continue
    # Outputs stored beside a record (segmentation masks) are read in for the comparison.
    reference = resolve_tensor_outputs(reference, pair["reference_file"])
    candidate = resolve_tensor_outputs(candidate, pair["candidate_file"])
    rows.extend(task.compare_predictions(reference, candidate, pair["rtol"], snakemake.params.atol, identity=identity))
for r in rows:
    label = f"{r['model']} {r['runtime']}/{r['variant']} vs {r['reference']} on {r['image']}"
    if not r["within_tolerance"]:
        log.error("parity miss: %s: %s", label, metric_fields(r))
    elif not r.get("discriminates", True):
        log.warning("parity not checked (outputs cannot discriminate): %s: %s", label, metric_fields(r))
    else:
        log.info("parity: %s: %s", label, metric_fields(r))
write_json_atomic(
    snakemake.output[0],
    {
        "model": snakemake.wildcards.model,
        "device": snakemake.wildcards.device,
        "atol": snakemake.params.atol,
        "comparisons": rows,
        "unavailable": unavailable,
    },
)
