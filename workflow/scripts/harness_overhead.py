"""Snakemake script for rule harness_overhead: the fixed per-call cost of each harness,
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
from tvdeploy.runtime import apply_threads, available_cores, load_torchscript, resolve_device, synchronizer, \
    versions

log = setup_script_logging(snakemake)
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
threads = bench_threads(settings["threads"], snakemake.threads, available_cores())
thread_settings = apply_threads(threads, settings["interop_threads"])
device = resolve_device(snakemake.wildcards.device)
batch = read_dat(snakemake.input.dat).to(device)

results = []
with tempfile.TemporaryDirectory() as scratch:
    probe_path = Path(scratch) / "overhead_probe.pt"
    with quiet_torchscript_deprecation():
        torch.jit.script(OverheadProbe()).save(str(probe_path))
    for runtime, module in [("eager", OverheadProbe()), ("ts-python", load_torchscript(probe_path, device))]:
        with torch.inference_mode():
            rounds = run_rounds(lambda: module(batch), synchronizer(device), protocol)
        results.append({"runtime": runtime, "summary": summarize_rounds(rounds, 1), "rounds": rounds})
    raw = run_cpp_bench(snakemake.input.bench, probe_path, snakemake.input.dat, snakemake.wildcards.device, 1,
                        protocol, threads, settings["interop_threads"])
    results.append({"runtime": "ts-cpp", "summary": summarize_rounds(raw["rounds"], 1), "rounds": raw["rounds"]})

for item in results:
    log.info("%s: median %.1f us per call", item["runtime"], item["summary"]["median_ms"] * 1000)
write_json_atomic(snakemake.output[0], {
    "device": device.type,
    "module": "x.flatten(1)",
    "input": str(snakemake.input.dat),
    "input_shape": list(batch.shape),
    **thread_settings,
    "protocol": protocol.as_dict(),
    "environment": machine_fingerprint(),
    "versions": versions(),
    "results": results,
})
