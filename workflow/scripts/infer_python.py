"""Snakemake script for rule infer_python: top-k predictions of a Python runtime's harness."""

from tvdeploy.harnesses import harness
from tvdeploy.io import setup_script_logging, write_json_atomic
from tvdeploy.runtime import apply_threads, predict, read_labels, resolve_device, versions

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
threads = apply_threads(snakemake.threads, 0)
device = resolve_device(wc.device)
module = harness(wc.runtime).load(snakemake.input.model, wc.model, device, wc.variant)
results = predict(module, snakemake.input.dats, read_labels(snakemake.input.labels), device, snakemake.params.topk)
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
        "results": results,
    },
)
