"""Snakemake script for rules infer_python and infer_float_reference: top-k predictions of a Python
runtime's harness (the deployment in params), run in a process of its own (tvdeploy.predict.infer).
A model the runtime cannot load or run, or that kills the process, is recorded with its error (the
run goes on)."""

from tvdeploy.files import setup_script_logging
from tvdeploy.inputs.fit import check_inputs_fit
from tvdeploy.predict import infer

setup_script_logging(snakemake)
wc, params = snakemake.wildcards, snakemake.params
# A .dat that does not fit the model fails the job here, naming the file, before it is read.
check_inputs_fit(snakemake.input.dats, **snakemake.params.expected_input)
infer.run(
    infer.command(
        snakemake.params.task,
        params.runtime,
        params.variant,
        wc.model,
        snakemake.input.model,
        # None where the model's task names no classes (no labels file is asked for).
        snakemake.input.labels[0] if snakemake.input.labels else None,
        snakemake.input.dats,
        device=wc.device,
        topk=snakemake.params.topk,
        threads=snakemake.threads,
        output=snakemake.output[0],
    ),
    snakemake.output[0],
    identity={"runtime": params.runtime, "variant": params.variant, "model": wc.model, "device": wc.device},
)
