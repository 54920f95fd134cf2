"""Snakemake script for rule infer_cpp: top-k predictions of a C++ runtime (the infer program). A
model the program cannot load or run is recorded with its error (the run goes on)."""

from tvdeploy.build.records import ArtifactUnavailable
from tvdeploy.files import setup_script_logging, write_json_atomic
from tvdeploy.harnesses import harness
from tvdeploy.harnesses.cpp import CppProgramError
from tvdeploy.inputs.fit import check_inputs_fit
from tvdeploy.predict.infer import failure_record
from tvdeploy.registry.failures import RUN_ERROR

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
# A .dat that does not fit the model fails the job here, naming the file, before it is read.
check_inputs_fit(snakemake.input.dats, **snakemake.params.expected_input)
try:
    harness(wc.runtime).infer(
        snakemake.input.infer,
        snakemake.input.model,
        # None where the model's task names no classes (no labels file is asked for).
        snakemake.input.labels[0] if snakemake.input.labels else None,
        snakemake.input.dats,
        device=wc.device,
        variant=wc.variant,
        topk=snakemake.params.topk,
        threads=snakemake.threads,
        output=snakemake.output[0],
        task_name=snakemake.params.task,
        quantized_engine=snakemake.params.quantized_engine,
    )
except (CppProgramError, ArtifactUnavailable) as err:
    log.error("%s/%s cannot deploy %s: %s", wc.runtime, wc.variant, wc.model, err)
    write_json_atomic(
        snakemake.output[0], failure_record("infer", wc.runtime, wc.variant, wc.model, wc.device, err, RUN_ERROR)
    )
