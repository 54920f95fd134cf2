"""Snakemake script for rule bench_cpp: run a C++ runtime's bench program under the protocol."""

import torch

from tvdeploy.bench import BenchJob
from tvdeploy.harnesses import harness
from tvdeploy.io import setup_script_logging
from tvdeploy.runtime import device_name, versions

log = setup_script_logging(snakemake)
job = BenchJob.from_snakemake(snakemake)
raw = harness(job.runtime).bench(
    snakemake.input.bench,
    snakemake.input.model,
    job.dat,
    job.device,
    job.batch_size,
    job.protocol,
    threads=job.threads,
    interop_threads=job.interop_threads,
    variant=job.variant,
)
job.write(
    raw["rounds"],
    device=raw["device"],
    # The C++ program names a GPU only by its index; torch knows its model name.
    device_name=device_name(torch.device(raw["device"])) if raw["device"] == "cuda" else raw["device_name"],
    threads=raw["threads"],
    interop_threads=raw["interop_threads"],
    versions={**versions(), "libtorch": raw.get("torch_version")},
)
