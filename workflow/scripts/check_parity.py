"""Snakemake script for rule check_parity: compare logits of runtimes on the real images.

Everything is recorded, nothing stops the run: a pair whose candidate or reference could not be
deployed is listed with that error, a pair beyond its tolerance is logged as an error and shown
in the tables, the summary and the deployability matrix."""

from tvdeploy.files import read_json, setup_script_logging, write_json_atomic
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
    rows.extend(task.compare_predictions(reference, candidate, pair["rtol"], snakemake.params.atol, identity=identity))
for row in rows:
    log.info("%s", row)
for r in rows:
    if not r["within_tolerance"]:
        log.error(
            "parity miss: %s %s/%s vs %s on %s: max abs diff %.3e > tolerance %.3e (logits max |x| %.3e, top-5 %s)",
            r["model"], r["runtime"], r["variant"], r["reference"], r["image"], r["max_abs_diff"], r["tolerance"],
            r["logits_max_abs"], r["top5_match"],
        )  # fmt: skip
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
