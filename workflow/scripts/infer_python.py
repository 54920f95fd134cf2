"""Snakemake script for rule infer_python: top-k predictions in eager PyTorch or TorchScript."""

from tvdeploy.io import setup_script_logging, write_json_atomic
from tvdeploy.runtime import apply_threads, load_module, predict, read_labels, resolve_device, versions

log = setup_script_logging(snakemake)
threads = apply_threads(snakemake.threads, 0)
device = resolve_device(snakemake.wildcards.device)
module = load_module(
    snakemake.wildcards.runtime, snakemake.wildcards.model, snakemake.input.model, device, snakemake.params.transform
)
results = predict(module, snakemake.input.dats, read_labels(snakemake.input.labels), device, snakemake.params.topk)
write_json_atomic(
    snakemake.output[0],
    {
        "program": "infer_python",
        "runtime": snakemake.wildcards.runtime,
        "model": snakemake.wildcards.model,
        "device": device.type,
        **threads,
        "versions": versions(),
        "results": results,
    },
)
