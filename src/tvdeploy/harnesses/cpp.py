"""Harness of the C++ runtimes: the ``infer`` and ``bench`` programs built from ``cpp/``, which load
TorchScript (ts-cpp), an AOTInductor package (aoti-cpp) or an OpenVINO IR (openvino-cpp), chosen
by the file.

The programs take the model's task as ``--task`` (always given, though the programs default to
classification), the benchmark protocol as one option per ``Protocol`` field (``warmup_iters``
→ ``--warmup-iters``), the variant's load transform as ``--transform``, an OpenVINO IR's
inference precision (its variant's precision hint) as ``--inference-precision``, and an
eager-quantized model's engine as ``--quantized-engine`` (selected before it loads); their raw per-iteration
latencies are summarised by the same Python code as every other harness.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

from tvdeploy.build.cpp import check_runs_here
from tvdeploy.build.records import artifact_file, check_baked_threads
from tvdeploy.files import read_json
from tvdeploy.harnesses import input_files
from tvdeploy.harnesses.allocator import benchmark_environment
from tvdeploy.harnesses.openvino import inference_precision, is_openvino_ir
from tvdeploy.measure.bench import Protocol
from tvdeploy.registry import VARIANTS, task

LOG = logging.getLogger("tvdeploy.harnesses.cpp")


class CppProgramError(RuntimeError):
    """A C++ program failed (its own message is in the log above)."""


def option(name: str) -> str:
    """The command-line option of a protocol field: ``min_time_s`` → ``--min-time-s``."""
    return "--" + name.replace("_", "-")


def protocol_args(protocol: Protocol) -> list[str]:
    args = []
    for f in fields(Protocol):
        value = getattr(protocol, f.name)
        args += [option(f.name), repr(value) if isinstance(value, float) else str(value)]
    return args


# How the C++ programs begin their error message (cpp/src/lib/cli.cpp), and how much of it the
# results' error column keeps (the log keeps all of it: a TorchScript error can carry a whole graph).
ERROR_PREFIX = "error: "
ERROR_MESSAGE_CHARS = 500


def program_error(stderr: str) -> str:
    """A C++ program's error message on one line: the paragraph that begins with its last
    ``error:`` line (a multi-line exception's text, not the usage text after the blank line),
    shortened; the last line of stderr where no line begins so."""
    lines = [line.strip() for line in stderr.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.startswith(ERROR_PREFIX)]
    if starts:
        paragraph = []
        for line in lines[starts[-1] :]:
            if not line:
                break
            paragraph.append(line)
        message = " ".join(paragraph)
    else:
        message = next((line for line in reversed(lines) if line), "no message")
    return message if len(message) <= ERROR_MESSAGE_CHARS else message[: ERROR_MESSAGE_CHARS - 1] + "…"


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    LOG.info("running %s", " ".join(command))
    sys.stderr.flush()
    # The program's own messages go to this process's stderr, which the rule sends to its log;
    # the last of them (the error) also goes into the exception, for the results' error column.
    completed = subprocess.run(command, check=False, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, env=env)
    sys.stderr.write(completed.stderr)
    sys.stderr.flush()
    if completed.returncode != 0:
        message = program_error(completed.stderr)
        raise CppProgramError(f"C++ {what} exited with status {completed.returncode}: {message}")


def infer(
    binary: str | Path,
    artifact: str | Path,
    labels: str | Path | None,
    dats: list[str],
    device: str,
    variant: str,
    topk: int,
    threads: int,
    output: str | Path,
    task_name: str,
    quantized_engine: str = "",
) -> None:
    """Top-k predictions and logits of every input; ``output`` is written atomically by the program."""
    _run(
        [
            *_program_command(binary, artifact, device, variant, task_name, quantized_engine),
            # A task without classes (optical flow) has no labels file.
            *(["--labels", str(labels)] if labels else []),
            "--topk", str(topk),
            "--threads", str(threads),
            "--output", str(output),
            *map(str, dats),
        ],
        "infer",
    )  # fmt: skip


def _program_command(
    binary, artifact, device: str, variant: str, task_name: str, quantized_engine: str = ""
) -> list[str]:
    """What both programs are given: the checked binary, the deployment, its task, its device and
    an eager-quantized model's engine ("": a float model).
    The device gets the same checks as in the Python harnesses (no GPU, a GPU the LibTorch build
    has no kernels for) before a C++ program starts: its own error would come later and say less;
    so does an unknown task (ValueError)."""
    task_name = task(task_name).name
    if device == "cuda":
        from tvdeploy.harnesses.device import resolve_device

        resolve_device(device)
    # A built artifact folder (AOTInductor) holds the file to load, or why it was not built.
    if Path(artifact).is_dir():
        artifact = artifact_file(artifact)
    return [
        str(check_runs_here(binary)),
        "--model", str(artifact),
        "--task", task_name,
        "--device", device,
        "--transform", VARIANTS[variant].load_transform,
        *(["--inference-precision", inference_precision(variant)] if is_openvino_ir(artifact) else []),
        *(["--quantized-engine", quantized_engine] if quantized_engine else []),
    ]  # fmt: skip


def _bench_command(
    binary, artifact, dat, device, variant, batch_size, threads, interop_threads, task_name, quantized_engine=""
) -> list[str]:
    """What every use of ``bench`` passes: the deployment, its task, its input and the threads."""
    if Path(artifact).is_dir():
        check_baked_threads(artifact, device, threads)
    return [
        *_program_command(binary, artifact, device, variant, task_name, quantized_engine),
        # One --input per model input, in the task's order (input_files).
        *(arg for path in input_files(dat) for arg in ("--input", path)),
        "--batch-size", str(batch_size),
        "--threads", str(threads),
        "--interop-threads", str(interop_threads),
    ]  # fmt: skip


def bench(
    binary: str | Path,
    artifact: str | Path,
    dat: str | Path,
    device: str,
    batch_size: int,
    protocol: Protocol,
    threads: int,
    interop_threads: int,
    task_name: str,
    variant: str = "plain",
    quantized_engine: str = "",
) -> dict:
    """Run ``bench`` once and return its raw JSON (per-round latencies, threads, device)."""
    with tempfile.TemporaryDirectory() as scratch:
        raw_path = Path(scratch) / "raw.json"
        command = _bench_command(
            binary, artifact, dat, device, variant, batch_size, threads, interop_threads, task_name, quantized_engine
        )
        # Timed under the heap settings of every benchmark worker (tvdeploy.harnesses.allocator).
        environment = benchmark_environment(os.environ)
        _run([*command, *protocol_args(protocol), "--output", str(raw_path)], "bench", environment)
        return read_json(raw_path)


def worker_command(
    binary: str | Path,
    artifact: str | Path,
    dat: str | Path,
    device: str,
    variant: str,
    batch_size: int,
    threads: int,
    interop_threads: int,
    task_name: str,
    quantized_engine: str = "",
) -> list[str]:
    """``bench --mode serve``: a long-lived worker answering warm-up and timed-block requests."""
    command = _bench_command(
        binary, artifact, dat, device, variant, batch_size, threads, interop_threads, task_name, quantized_engine
    )
    return [*command, "--mode", "serve"]
