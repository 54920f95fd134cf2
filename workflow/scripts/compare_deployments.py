"""Snakemake script for rule compare: every deployment of one model on one device and batch size,
measured by long-lived workers in interleaved rounds, in groups that fit the job's memory, with
paired ratios."""

import os
import sys

import psutil

from tvdeploy.build.records import ArtifactUnavailable
from tvdeploy.files import read_json, setup_script_logging, write_json_atomic
from tvdeploy.harnesses import worker_command
from tvdeploy.harnesses.allocator import benchmark_allocator, benchmark_environment
from tvdeploy.host.cluster import slurm_allocation
from tvdeploy.host.devices import available_cores
from tvdeploy.host.environment import machine_fingerprint
from tvdeploy.inputs.fit import check_inputs_fit
from tvdeploy.measure.admission import Budget
from tvdeploy.measure.bench import Protocol, bench_threads, job_span
from tvdeploy.measure.compare import BlockRule, Comparison
from tvdeploy.measure.peak import probe
from tvdeploy.measure.processes import ProcessWorker, UnavailableWorker
from tvdeploy.measure.stopping import StoppingRule
from tvdeploy.measure.summary import summarize_comparison
from tvdeploy.registry import Deployment

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
params = snakemake.params
# A .dat that does not fit the model fails the job here, naming the file, before it is read.
# Every input of the benchmarks' model call, in the task's argument order (optical flow: image1, image2).
dats = list(snakemake.input.dat)
check_inputs_fit(dats, **params.expected_input)
settings = params.bench
protocol = Protocol.from_config(settings)
batch_size = int(wc.batch)
threads = bench_threads(settings["threads"], snakemake.threads, available_cores())
programs = {"bench": snakemake.input.bench} if "bench" in snakemake.input.keys() else {}

# The machine's float32 peak on the workers' threads, measured before they start.
peak = probe(wc.device, threads)
log.info("float32 matmul peak: %s GFLOP/s%s", peak["gflop_per_s"], f" ({peak['error']})" if peak["error"] else "")

# Every worker, Python or C++, under the same heap settings (tvdeploy.harnesses.allocator).
environment = benchmark_environment(os.environ)
workers = {}
for (runtime, variant), artifact in zip(params.deployments, snakemake.input.artifacts, strict=True):
    name = Deployment(runtime, variant).key
    try:
        command = worker_command(
            runtime, variant, wc.model, artifact, dats, wc.device, batch_size, threads,
            settings["interop_threads"], programs, params.task, params.quantized_engine,
        )  # fmt: skip
    except ArtifactUnavailable as err:
        # A C++ program is given the built file: a failed build leaves none. Recorded, the others measured.
        workers[name] = UnavailableWorker(name, wc.model, str(err))
        continue
    workers[name] = ProcessWorker(name, wc.model, command, log=sys.stderr, env=environment)

rule = BlockRule(
    min_iters=protocol.min_iters,
    max_iters=protocol.max_iters,
    min_time_s=protocol.min_time_s,
    max_time_s=protocol.max_time_s,
    noisy_iqr_ratio=params.compare["noisy_block_iqr"],
    max_reruns=params.compare["max_block_reruns"],
)
stopping = StoppingRule(
    min_rounds=params.compare["min_rounds"],
    max_rounds=protocol.rounds,
    half_width=params.compare["resolution"],
    max_seconds=params.compare["max_seconds"],
    disturbed_ratio=params.compare["disturbed_block"],
)
comparison = Comparison(
    workers,
    rule,
    stopping,
    protocol.warmup_iters,
    protocol.warmup_max_time_s,
    launches=params.compare["launches"],
    seed=params.compare["seed"],
    confidence=params.compare["confidence"],
)
# The job's memory (what its scheduler granted), never more than this machine has available now.
budget = Budget.of(getattr(snakemake.resources, "mem_mb", None), psutil.virtual_memory().available)
log.info("memory budget of the workers: %s", budget.as_dict())
pairs = [(Deployment(*p["candidate"]).key, Deployment(*p["reference"]).key) for p in params.pairs]
admission = comparison.run(pairs, dict.fromkeys(workers, params.worker_mem_mb), budget.mb)
admission.update(budget.as_dict())
deployments, comparisons = summarize_comparison(
    comparison.results, params.pairs, batch_size, params.compare["confidence"], params.compare["resolution"], admission
)
failed = [name for name, d in deployments.items() if d["error"]]
if len(failed) == len(deployments):
    raise RuntimeError(f"every deployment of {wc.model} failed: " + "; ".join(deployments[n]["error"] for n in failed))
write_json_atomic(
    snakemake.output[0],
    {
        "model": wc.model,
        "device": wc.device,
        "batch_size": batch_size,
        "protocol": protocol.as_dict(),
        "compare": params.compare,
        "stopping": stopping.as_dict(),
        "admission": admission,
        "threads": threads,
        "interop_threads": settings["interop_threads"],
        "allocator": benchmark_allocator(),
        "input": dats[0],
        "inputs": dats,
        "weights_source": read_json(snakemake.input.provenance)["source"],
        "environment": machine_fingerprint(),
        "allocation": slurm_allocation(),
        "peak": peak,
        "deployments": deployments,
        "comparisons": comparisons,
        "schedule": comparison.schedule,
        "job": job_span(),
    },
)
for row in comparisons:
    if row["verdict"]:
        log.info(
            "%s vs %s: %.3f [%.3f, %.3f] %s",
            row["candidate"], row["reference"], row["ratio"], row["ci_low"], row["ci_high"], row["verdict"],
        )  # fmt: skip
if failed:
    log.error("failed deployments (recorded, the others measured): %s", failed)
