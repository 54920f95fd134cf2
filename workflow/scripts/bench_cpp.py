"""Snakemake script for rule bench_ts_cpp: run the C++ bench program, summarise its raw latencies."""

import torch

from tvdeploy.bench import Protocol, bench_threads, make_record
from tvdeploy.cppbench import run_cpp_bench
from tvdeploy.environment import machine_fingerprint
from tvdeploy.io import read_json, setup_script_logging, write_json_atomic
from tvdeploy.runtime import available_cores, device_name, versions

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
batch_size = int(wc.batch)
raw = run_cpp_bench(
    snakemake.input.bench,
    snakemake.input.model,
    snakemake.input.dat,
    wc.device,
    batch_size,
    protocol,
    threads=bench_threads(settings["threads"], snakemake.threads, available_cores()),
    interop_threads=settings["interop_threads"],
    transform=snakemake.params.transform,
)
record = make_record(
    {
        "model": wc.model,
        "runtime": "ts-cpp",
        "variant": wc.variant,
        "device": raw["device"],
        # The C++ program names a GPU only by its index; torch knows its model name.
        "device_name": device_name(torch.device(raw["device"]))
        if raw["device"].startswith("cuda")
        else raw["device_name"],
        "threads": raw["threads"],
        "interop_threads": raw["interop_threads"],
        "transform": raw["transform"],
        "input": str(snakemake.input.dat),
        "weights_source": read_json(snakemake.input.provenance)["source"],
        "environment": machine_fingerprint(),
        "versions": {**versions(), "libtorch": raw.get("torch_version")},
    },
    protocol,
    raw["rounds"],
    batch_size,
)
write_json_atomic(snakemake.output[0], record)
log.info("median %.3f ms over %d iterations", record["summary"]["median_ms"], record["summary"]["iterations"])
