"""Snakemake script for rule infer_python: top-k predictions of a Python runtime's harness, run in
a process of its own (tvdeploy.predict.infer). A model the runtime cannot load or run, or that kills the
process, is recorded with its error (the run goes on)."""

from tvdeploy.files import setup_script_logging
from tvdeploy.predict import infer

setup_script_logging(snakemake)
wc = snakemake.wildcards
infer.run(
    infer.command(
        snakemake.params.task,
        wc.runtime,
        wc.variant,
        wc.model,
        snakemake.input.model,
        snakemake.input.labels,
        snakemake.input.dats,
        device=wc.device,
        topk=snakemake.params.topk,
        threads=snakemake.threads,
        output=snakemake.output[0],
    ),
    snakemake.output[0],
    identity={"runtime": wc.runtime, "variant": wc.variant, "model": wc.model, "device": wc.device},
)
