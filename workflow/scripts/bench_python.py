"""Snakemake script for rules bench_eager and bench_ts_python."""

import torch

from tvdeploy.bench import Protocol, bench_threads, make_record, run_rounds
from tvdeploy.environment import machine_fingerprint
from tvdeploy.io import read_json, setup_script_logging, write_json_atomic
from tvdeploy.preprocess import read_dat
from tvdeploy.runtime import (
    apply_threads,
    available_cores,
    device_name,
    load_module,
    resolve_device,
    synchronizer,
    versions,
)

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
batch_size = int(wc.batch)
threads = apply_threads(
    bench_threads(settings["threads"], snakemake.threads, available_cores()), settings["interop_threads"]
)
device = resolve_device(wc.device)
module = load_module(snakemake.params.runtime, wc.model, snakemake.input.model, device, snakemake.params.transform)
# The real preprocessed image, repeated to fill the batch: identical bytes in every harness.
batch = read_dat(snakemake.input.dat).repeat(batch_size, 1, 1, 1).contiguous().to(device)

log.info(
    "benchmarking %s %s/%s on %s, batch %d, %s",
    wc.model,
    snakemake.params.runtime,
    wc.variant,
    device,
    batch_size,
    threads,
)
with torch.inference_mode():
    rounds = run_rounds(lambda: module(batch), synchronizer(device), protocol)

record = make_record(
    {
        "model": wc.model,
        "runtime": snakemake.params.runtime,
        "variant": wc.variant,
        "device": device.type,
        "device_name": device_name(device),
        **threads,
        "transform": snakemake.params.transform,
        "input": str(snakemake.input.dat),
        "weights_source": read_json(snakemake.input.provenance)["source"],
        "environment": machine_fingerprint(),
        "versions": versions(),
    },
    protocol,
    rounds,
    batch_size,
)
write_json_atomic(snakemake.output[0], record)
log.info("median %.3f ms over %d iterations", record["summary"]["median_ms"], record["summary"]["iterations"])
