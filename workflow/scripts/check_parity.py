"""Snakemake script for rule check_parity: compare logits of runtimes on the real images."""

from tvdeploy.io import read_json, setup_script_logging, write_json_atomic
from tvdeploy.models import ParityError
from tvdeploy.tables import compare_predictions

log = setup_script_logging(snakemake)
rows = []
for pair in snakemake.params.pairs:
    rows.extend(
        compare_predictions(
            read_json(pair["reference_file"]),
            read_json(pair["candidate_file"]),
            pair["rtol"],
            snakemake.params.atol,
            identity={
                "model": snakemake.wildcards.model,
                "device": snakemake.wildcards.device,
                "runtime": pair["runtime"],
                "variant": pair["variant"],
                "reference": pair["reference"],
            },
        )
    )
failures = [r for r in rows if not r["within_tolerance"]]
for row in rows:
    log.info("%s", row)
if failures:
    raise ParityError(
        "; ".join(
            f"{r['model']} {r['runtime']}/{r['variant']} vs {r['reference']} on {r['image']}: "
            f"max abs diff {r['max_abs_diff']:.3e} > tolerance {r['tolerance']:.3e} "
            f"(logits max |x| {r['logits_max_abs']:.3e}, top-5 match {r['top5_match']})"
            for r in failures
        )
    )
write_json_atomic(
    snakemake.output[0],
    {
        "model": snakemake.wildcards.model,
        "device": snakemake.wildcards.device,
        "atol": snakemake.params.atol,
        "comparisons": rows,
    },
)
