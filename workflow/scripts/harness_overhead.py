"""Snakemake script for rule harness_overhead: the fixed per-call cost of one harness,
measured with a module that does (almost) no work, under the benchmark protocol."""

import tempfile
from pathlib import Path

import torch

from tvdeploy.bench import Protocol, bench_threads, run_rounds, summarize_rounds
from tvdeploy.cppbench import run_cpp_bench
from tvdeploy.environment import machine_fingerprint
from tvdeploy.io import setup_script_logging, write_json_atomic
from tvdeploy.models import OverheadProbe, quiet_torchscript_deprecation
from tvdeploy.preprocess import read_dat
from tvdeploy.runtime import apply_threads, available_cores, load_torchscript, resolve_device, synchronizer, versions

log = setup_script_logging(snakemake)
runtime = snakemake.wildcards.runtime
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
threads = bench_threads(settings["threads"], snakemake.threads, available_cores())
thread_settings = apply_threads(threads, settings["interop_threads"])
device = resolve_device(snakemake.wildcards.device)
batch = read_dat(snakemake.input.dat).to(device)

with tempfile.TemporaryDirectory() as scratch:
    probe_path = Path(scratch) / "overhead_probe.pt"
    with quiet_torchscript_deprecation():
        torch.jit.script(OverheadProbe()).save(str(probe_path))
    if runtime == "ts-cpp":
        raw = run_cpp_bench(
            snakemake.input.bench,
            probe_path,
            snakemake.input.dat,
            snakemake.wildcards.device,
            1,
            protocol,
            threads,
            settings["interop_threads"],
        )
        rounds, thread_settings = raw["rounds"], {k: raw[k] for k in ("threads", "interop_threads")}
    else:
        module = OverheadProbe() if runtime == "eager" else load_torchscript(probe_path, device)
        with torch.inference_mode():
            rounds = run_rounds(lambda: module(batch), synchronizer(device), protocol)

summary = summarize_rounds(rounds, 1)
log.info("%s: median %.1f us per call", runtime, summary["median_ms"] * 1000)
write_json_atomic(
    snakemake.output[0],
    {
        "device": device.type,
        "runtime": runtime,
        "module": "x.flatten(1)",
        "input": str(snakemake.input.dat),
        "input_shape": list(batch.shape),
        **thread_settings,
        "protocol": protocol.as_dict(),
        "environment": machine_fingerprint(),
        "versions": versions(),
        "summary": summary,
        "rounds": rounds,
    },
)
