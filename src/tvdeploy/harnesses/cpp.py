"""Running the C++ ``bench`` program with the shared protocol and reading its raw result."""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from tvdeploy.bench import Protocol
from tvdeploy.io import read_json

LOG = logging.getLogger("tvdeploy.cppbench")


class CppBenchError(RuntimeError):
    """The C++ bench program failed."""


def run_cpp_bench(
    binary: str | Path,
    model: str | Path,
    dat: str | Path,
    device: str,
    batch_size: int,
    protocol: Protocol,
    threads: int,
    interop_threads: int,
    transform: str = "none",
) -> dict:
    """Run ``bench`` and return its JSON; its own messages go to this process's stderr (the log)."""
    with tempfile.TemporaryDirectory() as scratch:
        raw_path = Path(scratch) / "raw.json"
        command = [
            str(Path(binary).resolve()),
            "--model",
            str(model),
            "--input",
            str(dat),
            "--device",
            device,
            "--transform",
            transform,
            "--batch-size",
            str(batch_size),
            "--warmup-iters",
            str(protocol.warmup_iters),
            "--min-iters",
            str(protocol.min_iters),
            "--max-iters",
            str(protocol.max_iters),
            "--min-time-s",
            repr(protocol.min_time_s),
            "--max-time-s",
            repr(protocol.max_time_s),
            "--rounds",
            str(protocol.rounds),
            "--threads",
            str(threads),
            "--interop-threads",
            str(interop_threads),
            "--output",
            str(raw_path),
        ]
        LOG.info("running %s", " ".join(command))
        sys.stderr.flush()
        completed = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr)
        if completed.returncode != 0:
            raise CppBenchError(f"C++ bench exited with status {completed.returncode} (its message is above)")
        return read_json(raw_path)
