"""Do the Python baselines pay an allocator cost? (issue 28, "Same conditions for every harness")

Per model, eager and ts-python (plain TorchScript), each run by the project's own worker twice:
under glibc's malloc defaults and under the benchmark settings (tvdeploy.harnesses.allocator).
The four workers are measured in the same interleaved rounds by the comparison's coordinator
(tvdeploy.measure.compare), with the workflow's protocol (config/config.yaml), and each ratio is
paired over the rounds (tvdeploy.measure.paired): tuned/default per runtime, and ts-python/eager
under each setting (is the speedup's denominator moved?). Beside the times, the mechanism: minor
page faults per forward of each runtime under each setting, counted in a fresh process after
warm-up (memory handed back to the kernel and faulted in again, zeroed, on the next forward).
Random weights: timing does not depend on their values.

Run from the repository root, on a quiet machine (about 10 minutes on 2 cores):

    .venv/bin/python docs/measurements/2026-12-06-allocator/measure.py

It writes allocator.json and allocator.md beside this file (``--out`` elsewhere); the workers'
messages go to stderr.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from tvdeploy.files import write_json_atomic, write_text_atomic
from tvdeploy.harnesses import worker_command
from tvdeploy.harnesses.allocator import (
    allocator_settings,
    benchmark_allocator,
    benchmark_environment,
    glibc_default_environment,
)
from tvdeploy.host.devices import available_cores
from tvdeploy.host.environment import machine_fingerprint
from tvdeploy.measure.bench import Protocol, bench_threads
from tvdeploy.measure.compare import BlockRule, ProcessWorker, run_interleaved
from tvdeploy.measure.paired import paired_ratio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
MODELS = ["mobilenet_v3_small", "regnet_y_400mf", "resnet50", "efficientnet_b0"]
RUNTIMES = ["eager", "ts-python"]
# Each worker's environment, from this process's: the allocator setting is the only difference.
SETTINGS = {"default": glibc_default_environment, "tuned": benchmark_environment}
VARIANT = "plain"
DEVICE = "cpu"
BATCH_SIZE = 1
SEED = 0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per model")
    parser.add_argument("--launches", type=int, default=2, help="fresh starts of every worker, rounds split")
    parser.add_argument("--threads", type=int, default=0, help="0: every core of this machine")
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml", help="protocol from here")
    parser.add_argument("--out", type=Path, default=HERE, help="folder of allocator.json and allocator.md")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder for the artifacts (default: a temp)")
    return parser.parse_args(argv)


def build_artifacts(model: str, folder: Path) -> tuple[dict[str, Path], Path]:
    """The model's random weights (eager's artifact), its TorchScript file (ts-python's) and a
    random input .dat, built as the workflow builds them."""
    import torch

    from tvdeploy.build.load import quiet_torchscript_deprecation
    from tvdeploy.build.torchscript import script_deployable
    from tvdeploy.catalog.models import build_model, random_state_dict
    from tvdeploy.catalog.sheet import read_sheet
    from tvdeploy.inputs.dat import write_dat
    from tvdeploy.registry import TASKS
    from tvdeploy.tasks import adapter

    info = read_sheet(REPO / "config" / "models.tsv")[model]
    task = adapter(info.task)
    weights, torchscript, dat = folder / f"{model}.pth", folder / f"{model}.pt", folder / f"{model}.dat"
    torch.save(random_state_dict(model, SEED), weights)
    example = task.example_inputs(info, 1, SEED)
    scripted, _ = script_deployable(build_model(model, weights), example, task)
    with quiet_torchscript_deprecation():
        scripted.save(str(torchscript))
    write_dat(example[0], dat, TASKS[info.task].input_layout, {"image": "random", "spec_id": info.spec_id})
    return {"eager": weights, "ts-python": torchscript}, dat


# Run in a fresh process per runtime and setting: load as the worker loads, warm up, then count
# this process's minor page faults over a few forwards.
FAULTS_PROGRAM = """
import json, sys, torch
from tvdeploy.harnesses import harness
from tvdeploy.inputs.dat import read_dat
runtime, artifact, model, dat, threads = sys.argv[1:6]
torch.set_num_threads(int(threads))
module = harness(runtime).load(artifact, model, torch.device("cpu"))
batch = read_dat(dat)

def minor_faults():
    with open("/proc/self/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[7])

with torch.inference_mode():
    for _ in range(3):
        module(batch)
    before = minor_faults()
    for _ in range(10):
        module(batch)
print(json.dumps((minor_faults() - before) / 10))
"""


def faults_per_forward(runtime: str, artifact: Path, model: str, dat: Path, threads: int, environment) -> float | str:
    """Minor page faults per warm forward in a process started with ``environment`` (or why not)."""
    command = [sys.executable, "-c", FAULTS_PROGRAM, runtime, str(artifact), model, str(dat), str(threads)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[-300:]}"
    return float(done.stdout.strip().splitlines()[-1])


def round_medians(blocks: list[dict]) -> dict[int, float]:
    return {block["round"]: float(np.median(block["latencies_ms"])) for block in blocks}


def paired(results, candidate: str, reference: str, confidence: float, resolution: float) -> dict:
    """candidate/reference over the rounds both completed."""
    cand, ref = round_medians(results[candidate].blocks), round_medians(results[reference].blocks)
    common = sorted(set(cand) & set(ref))
    row = {"candidate": candidate, "reference": reference}
    if not common:
        return {**row, "rounds": 0, "error": results[candidate].error or results[reference].error}
    estimate = paired_ratio([cand[r] for r in common], [ref[r] for r in common], confidence, resolution)
    return {**row, **estimate.as_dict()}


def measure_model(model: str, artifacts, dat, threads, settings, compare, rounds, launches) -> dict:
    protocol = Protocol.from_config(settings)
    workers, environments = {}, {}
    for runtime in RUNTIMES:
        command = worker_command(
            runtime, VARIANT, model, artifacts[runtime], dat, DEVICE, BATCH_SIZE, threads,
            settings["interop_threads"], {}, "classification",
        )  # fmt: skip
        for setting, environment_of in SETTINGS.items():
            name = f"{runtime}/{setting}"
            environments[name] = environment_of(os.environ)
            workers[name] = ProcessWorker(name, model, command, log=sys.stderr, env=environments[name])
    rule = BlockRule(
        min_iters=protocol.min_iters,
        max_iters=protocol.max_iters,
        min_time_s=protocol.min_time_s,
        max_time_s=protocol.max_time_s,
        noisy_iqr_ratio=compare["noisy_block_iqr"],
        max_reruns=compare["max_block_reruns"],
    )
    results, schedule = run_interleaved(
        workers,
        rounds,
        rule,
        protocol.warmup_iters,
        protocol.warmup_max_time_s,
        seed=compare["seed"],
        launches=launches,
    )
    deployments = {}
    for name, result in results.items():
        runtime = name.partition("/")[0]
        medians = list(round_medians(result.blocks).values())
        deployments[name] = {
            "error": result.error,
            "allocator": result.ready.get("allocator"),
            # What the worker says it ran under is what it was given: else the comparison is void.
            "allocator_as_given": result.ready.get("allocator") == allocator_settings(environments[name]),
            "median_ms": float(np.median(medians)) if medians else None,
            "round_medians_ms": medians,
            "noisy_blocks": sum(block["noisy"] for block in result.blocks),
            # Counted after the rounds, never beside them.
            "minor_faults_per_forward": faults_per_forward(
                runtime, artifacts[runtime], model, dat, threads, environments[name]
            ),
            "ready": result.ready,
        }
    confidence, resolution = compare["confidence"], compare["resolution"]
    return {
        "deployments": deployments,
        "tuned_over_default": {
            runtime: paired(results, f"{runtime}/tuned", f"{runtime}/default", confidence, resolution)
            for runtime in RUNTIMES
        },
        "ts_python_over_eager": {
            setting: paired(results, f"ts-python/{setting}", f"eager/{setting}", confidence, resolution)
            for setting in SETTINGS
        },
        "schedule": schedule,
    }


def lscpu() -> dict:
    """lscpu's fields (model name, flags, ...), or why there are none."""
    try:
        done = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as err:
        return {"error": str(err)}
    fields = (line.partition(":") for line in done.stdout.splitlines())
    return {key.strip(): value.strip() for key, _, value in fields if value}


def interval(row: dict) -> str:
    if not row.get("rounds"):
        return f"failed: {row.get('error')}"
    return f"{row['ratio']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] ({row['verdict']}, {row['rounds']} rounds)"


def milliseconds(entry: dict) -> str:
    return "—" if entry["median_ms"] is None else f"{entry['median_ms']:.2f}"


def markdown(record: dict) -> str:
    cpu = record["lscpu"]
    lines = [
        "# glibc malloc: the benchmark settings vs glibc's defaults, for the Python baselines",
        "",
        f"Measured {record['date']} on {cpu.get('Model name', record['machine']['cpu']['model'])}, "
        f"{record['threads']} threads, batch {BATCH_SIZE}, {record['rounds']} interleaved rounds in "
        f"{record['launches']} launches; random weights. Settings: `{record['settings']}`.",
        "",
        f"Command: `{record['command']}`",
        "",
        "## tuned / default (below 1: the settings make the runtime faster)",
        "",
        "Faults: minor page faults per warm forward (fresh pages the kernel zeroes), default → tuned.",
        "",
        "| model | runtime | default ms | tuned ms | tuned / default [95 % CI] | faults |",
        "|---|---|---:|---:|---|---|",
    ]
    for model, result in record["models"].items():
        deployments = result["deployments"]
        for runtime, row in result["tuned_over_default"].items():
            default, tuned = deployments[f"{runtime}/default"], deployments[f"{runtime}/tuned"]
            faults = f"{default['minor_faults_per_forward']} → {tuned['minor_faults_per_forward']}"
            times = f"{milliseconds(default)} | {milliseconds(tuned)}"
            lines.append(f"| {model} | {runtime} | {times} | {interval(row)} | {faults} |")
    lines += [
        "",
        "## ts-python / eager under each setting (does the speedup's denominator move?)",
        "",
        "| model | defaults | settings |",
        "|---|---|---|",
    ]
    for model, result in record["models"].items():
        rows = result["ts_python_over_eager"]
        lines.append(f"| {model} | {interval(rows['default'])} | {interval(rows['tuned'])} |")
    lines += ["", f"CPU flags (lscpu): `{cpu.get('Flags', cpu.get('error', 'unknown'))}`", ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    args = parse_args(argv)
    config = yaml.safe_load(args.config.read_text(encoding="utf-8"))
    threads = bench_threads(args.threads, available_cores(), available_cores())
    record = {
        "command": shlex.join([sys.executable, *sys.orig_argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_fingerprint(),
        "platform_libc": list(platform.libc_ver()),
        "lscpu": lscpu(),
        "settings": benchmark_environment({})["GLIBC_TUNABLES"],
        "allocator": benchmark_allocator(),
        "threads": threads,
        "interop_threads": config["bench"]["interop_threads"],
        "rounds": args.rounds,
        "launches": args.launches,
        "protocol": Protocol.from_config(config["bench"]).as_dict(),
        "compare": config["compare"],
        "models": {},
    }
    with tempfile.TemporaryDirectory(prefix="allocator-", dir=args.work) as scratch:
        for model in args.models:
            print(f"building {model}", file=sys.stderr, flush=True)
            folder = Path(scratch) / model
            folder.mkdir()
            artifacts, dat = build_artifacts(model, folder)
            print(f"measuring {model}", file=sys.stderr, flush=True)
            record["models"][model] = measure_model(
                model, artifacts, dat, threads, config["bench"], config["compare"], args.rounds, args.launches
            )
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "allocator.json", record)
    write_text_atomic(args.out / "allocator.md", markdown(record))
    print(markdown(record))


if __name__ == "__main__":
    main()
