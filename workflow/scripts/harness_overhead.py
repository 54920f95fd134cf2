"""Snakemake script for rule harness_overhead: the fixed per-call cost of one runtime's harness,
measured with a module that does (almost) no work, under the benchmark protocol."""

import os
import tempfile
from pathlib import Path

import torch

from tvdeploy.build.exporters import EXAMPLE_BATCH, build_artifact
from tvdeploy.build.load import quiet_torchscript_deprecation
from tvdeploy.build.torchscript import OverheadProbe
from tvdeploy.files import setup_script_logging, write_json_atomic
from tvdeploy.harnesses import harness
from tvdeploy.harnesses.allocator import allocator_settings, restart_under_benchmark_allocator
from tvdeploy.harnesses.device import apply_threads, resolve_device, synchronizer
from tvdeploy.host.cluster import slurm_allocation
from tvdeploy.host.devices import available_cores
from tvdeploy.host.environment import machine_fingerprint, versions
from tvdeploy.inputs.dat import read_dat, write_dat
from tvdeploy.measure.bench import Protocol, bench_threads, run_rounds, summarize_rounds
from tvdeploy.measure.worker import batch_of
from tvdeploy.registry import BUILT_ARTIFACTS, CLASSIFICATION, CPP, TORCHSCRIPT, runtime
from tvdeploy.tasks import adapter

# The probe takes the bench image and returns one tensor: a classification model's contract.
PROBE_TASK = CLASSIFICATION

# Python runtimes are timed in this process: it restarts under every benchmark worker's heap
# settings, which glibc reads only at start (the C++ bench it starts inherits them).
restart_under_benchmark_allocator()
log = setup_script_logging(snakemake)
wc = snakemake.wildcards
rt = runtime(wc.runtime)
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
threads = bench_threads(settings["threads"], snakemake.threads, available_cores())
thread_settings = apply_threads(threads, settings["interop_threads"])
device = resolve_device(wc.device)
batch = read_dat(snakemake.input.dat).to(device)
probe_dat = snakemake.input.dat

with tempfile.TemporaryDirectory() as scratch:
    if batch.dim() == 3:
        # An image without a batch axis (a detector's CHW): the probe, a classifier, takes it as a
        # batch of one, in Python and in the C++ bench's file alike.
        batch = batch.unsqueeze(0)
        probe_dat = str(Path(scratch) / "probe_input.dat")
        write_dat(batch.cpu(), probe_dat, "NCHW", {"source": str(snakemake.input.dat)})
    # The probe in the form the runtime loads: an exported file, or the nn.Module itself.
    probe_path = None
    if rt.artifact == TORCHSCRIPT:
        probe_path = Path(scratch) / "overhead_probe.pt"
        with quiet_torchscript_deprecation():
            torch.jit.script(OverheadProbe()).save(str(probe_path))
    elif rt.artifact in BUILT_ARTIFACTS:
        # Built the way the models are, by the same builder, and loaded by the same harness.
        probe_path = Path(scratch) / "probe"
        # The export's example batch, whatever the input's rank (a video clip's NCTHW is 5-D).
        example = (batch_of(batch.cpu(), EXAMPLE_BATCH),)
        build_artifact(rt.artifact, OverheadProbe(), example, probe_path, adapter(PROBE_TASK), log=log, device=device)
    if rt.language == CPP:
        raw = harness(wc.runtime).bench(
            snakemake.input.bench, probe_path, probe_dat, wc.device, 1, protocol, threads,
            settings["interop_threads"], PROBE_TASK,
        )  # fmt: skip
        rounds, thread_settings = raw["rounds"], {k: raw[k] for k in ("threads", "interop_threads")}
    else:
        module = OverheadProbe() if probe_path is None else harness(wc.runtime).load(probe_path, "", device)
        with torch.inference_mode():
            rounds = run_rounds(lambda: module(batch), synchronizer(device), protocol)

summary = summarize_rounds(rounds, 1)
log.info("%s: median %.1f us per call", wc.runtime, summary["median_ms"] * 1000)
write_json_atomic(
    snakemake.output[0],
    {
        "device": device.type,
        "runtime": wc.runtime,
        "module": "x.flatten(1)",
        "input": str(snakemake.input.dat),
        "input_shape": list(batch.shape),
        **thread_settings,
        "protocol": protocol.as_dict(),
        "environment": machine_fingerprint(),
        "allocation": slurm_allocation(),
        "versions": versions(),
        "allocator": raw["allocator"] if rt.language == CPP else allocator_settings(os.environ),
        "summary": summary,
        "rounds": rounds,
    },
)
