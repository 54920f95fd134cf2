"""Snakemake script for rule bench_ts_cpp: run the C++ bench program, summarise its raw latencies."""

import subprocess
import sys
import tempfile
from pathlib import Path

from tvdeploy.bench import Protocol, bench_threads, make_record
from tvdeploy.io import read_json, setup_script_logging, write_json_atomic
import torch

from tvdeploy.runtime import available_cores, device_name, versions

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
settings = snakemake.params.bench
protocol = Protocol.from_config(settings)
batch_size = int(wc.batch)
threads = bench_threads(settings["threads"], snakemake.threads, available_cores())

with tempfile.TemporaryDirectory() as scratch:
    raw_path = Path(scratch) / "raw.json"
    command = [
        str(Path(snakemake.input.bench).resolve()),
        "--model", snakemake.input.model,
        "--input", snakemake.input.dat,
        "--device", wc.device,
        "--batch-size", str(batch_size),
        "--warmup-iters", str(protocol.warmup_iters),
        "--min-iters", str(protocol.min_iters),
        "--max-iters", str(protocol.max_iters),
        "--min-time-s", repr(protocol.min_time_s),
        "--max-time-s", repr(protocol.max_time_s),
        "--rounds", str(protocol.rounds),
        "--threads", str(threads),
        "--interop-threads", str(settings["interop_threads"]),
        "--output", str(raw_path),
    ]
    log.info("running %s", " ".join(command))
    sys.stderr.flush()
    completed = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
    if completed.returncode != 0:
        raise RuntimeError(f"C++ bench exited with status {completed.returncode}; see {snakemake.log[0]}")
    raw = read_json(raw_path)

record = make_record({
    "model": wc.model,
    "runtime": "ts-cpp",
    "variant": wc.variant,
    "device": raw["device"],
    # The C++ program names a GPU only by index; torch knows its model name.
    "device_name": device_name(torch.device(raw["device"])) if raw["device"].startswith("cuda") else raw["device_name"],
    "threads": raw["threads"],
    "interop_threads": raw["interop_threads"],
    "input": str(snakemake.input.dat),
    "weights_source": read_json(snakemake.input.provenance)["source"],
    "versions": {**versions(), "libtorch": raw.get("torch_version")},
}, protocol, raw["rounds"], batch_size)
write_json_atomic(snakemake.output[0], record)
log.info("median %.3f ms over %d iterations", record["summary"]["median_ms"], record["summary"]["iterations"])
