"""Snakemake script for rule profile_ops: where a model's eager time goes on the CPU, beside the
float32 peak measured right before on the same threads."""

from tvdeploy.files import setup_script_logging, write_text_atomic
from tvdeploy.measure.peak import probe
from tvdeploy.measure.profile_ops import report

log = setup_script_logging(snakemake)
peak = probe("cpu", snakemake.threads)
log.info("float32 matmul peak: %s GFLOP/s%s", peak["gflop_per_s"], f" ({peak['error']})" if peak["error"] else "")
write_text_atomic(
    snakemake.output[0],
    report(
        snakemake.wildcards.model,
        snakemake.input.weights,
        snakemake.input.dat,
        snakemake.threads,
        peak["gflop_per_s"],
    ),
)
