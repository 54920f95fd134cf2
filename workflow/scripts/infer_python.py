"""Snakemake script for rule infer_python: top-k predictions of a Python runtime's harness. A model
the runtime cannot load or run is recorded with its error (the run goes on)."""

import time

from tvdeploy.failures import LOAD_ERROR, RUN_ERROR, failure_fields
from tvdeploy.harnesses import harness
from tvdeploy.io import setup_script_logging, write_json_atomic
from tvdeploy.runtime import apply_threads, predict, read_labels, resolve_device, versions

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
threads = apply_threads(snakemake.threads, 0)
# A device this machine lacks is a configuration error, not a model's failure: it stops the job.
device = resolve_device(wc.device)
outcome = {"results": [], "error": None, "error_class": None}
phase = LOAD_ERROR
try:
    start = time.perf_counter()
    module = harness(wc.runtime).load(snakemake.input.model, wc.model, device, wc.variant)
    outcome["load_s"] = time.perf_counter() - start
    phase = RUN_ERROR
    labels = read_labels(snakemake.input.labels)
    outcome["results"] = predict(module, snakemake.input.dats, labels, device, snakemake.params.topk)
except Exception as err:
    log.exception("%s/%s cannot deploy %s", wc.runtime, wc.variant, wc.model)
    outcome.update(failure_fields(err, phase))
write_json_atomic(
    snakemake.output[0],
    {
        "program": "infer_python",
        "runtime": wc.runtime,
        "variant": wc.variant,
        "model": wc.model,
        "device": device.type,
        **threads,
        "versions": versions(),
        **outcome,
    },
)
