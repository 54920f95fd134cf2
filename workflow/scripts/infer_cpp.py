"""Snakemake script for rule infer_cpp: top-k predictions of a C++ runtime (the infer program)."""

from tvdeploy.harnesses import harness
from tvdeploy.io import setup_script_logging

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
harness(wc.runtime).infer(
    snakemake.input.infer,
    snakemake.input.model,
    snakemake.input.labels,
    snakemake.input.dats,
    device=wc.device,
    variant=wc.variant,
    topk=snakemake.params.topk,
    threads=snakemake.threads,
    output=snakemake.output[0],
)
