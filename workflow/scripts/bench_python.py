"""Snakemake script for rule bench_python: time a Python runtime's harness under the protocol."""

import torch

from tvdeploy.bench import BenchJob, run_rounds
from tvdeploy.harnesses import harness
from tvdeploy.io import setup_script_logging
from tvdeploy.preprocess import read_dat
from tvdeploy.runtime import apply_threads, device_name, resolve_device, synchronizer, versions

log = setup_script_logging(snakemake)
job = BenchJob.from_snakemake(snakemake)
threads = apply_threads(job.threads, job.interop_threads)
device = resolve_device(job.device)
module = harness(job.runtime).load(snakemake.input.model, job.model, device, job.variant)
# The real preprocessed image, repeated to fill the batch: identical bytes in every harness.
batch = read_dat(job.dat).repeat(job.batch_size, 1, 1, 1).contiguous().to(device)

log.info("benchmarking %s on %s, %s", job, device, threads)
with torch.inference_mode():
    rounds = run_rounds(lambda: module(batch), synchronizer(device), job.protocol)
job.write(rounds, device=device.type, device_name=device_name(device), versions=versions(), **threads)
