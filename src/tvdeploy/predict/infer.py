"""Predictions of a Python runtime, decoded by the model's task adapter, in a process of their own
(``python -m tvdeploy.predict.infer``).

A runtime's native code can kill the process that loads it (aoti-python segfaulted on a GPU
machine's torch 2.11). Inside the rule's own process that failed the job, and the deployability
matrix lost the model × runtime; run here as a child, a crash becomes a recorded outcome like any
other failure, as it already was for the C++ ``infer`` program. The child writes the prediction
record itself (atomically: results, or the Python error it caught); the parent, ``run``, writes
one only where the child died without writing it. This module's top level imports no torch, so
the parent stays small.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from tvdeploy.files import write_json_atomic
from tvdeploy.registry.failures import CRASHED, LOAD_ERROR, RUN_ERROR, failure_fields
from tvdeploy.registry.tasks import TASKS

PROGRAM = "infer_python"
LOG = logging.getLogger(__name__)


class InferenceCrashed(RuntimeError):
    """The inference process ended without writing its record: killed by a signal."""

    error_class = CRASHED


def failure_record(program: str, runtime: str, variant: str, model: str, device: str, error, phase: str) -> dict:
    """The prediction record of a deployment that produced no predictions, in every program's layout."""
    return {
        "program": program,
        "runtime": runtime,
        "variant": variant,
        "model": model,
        "device": device,
        "results": [],
        **failure_fields(error, phase),
    }


def command(
    task: str,
    runtime: str,
    variant: str,
    model: str,
    artifact: str,
    labels: str | None,
    dats: list[str],
    device: str,
    topk: int,
    threads: int,
    output: str,
) -> list[str]:
    return [
        sys.executable, "-m", "tvdeploy.predict.infer",
        "--task", task,
        "--runtime", runtime,
        "--variant", variant,
        "--model", model,
        "--artifact", str(artifact),
        # A task without classes (optical flow) has no labels file.
        *(["--labels", str(labels)] if labels else []),
        "--device", device,
        "--topk", str(topk),
        "--threads", str(threads),
        "--output", str(output),
        *map(str, dats),
    ]  # fmt: skip


def run(argv: list[str], output: str | Path, identity: dict) -> None:
    """Run an inference process; where it is killed before writing ``output``, write its failure.

    ``identity``: runtime, variant, model and device of the record. A child that exits with an
    error status refused the job on purpose (a device this machine lacks is a configuration
    error, not the model's failure) and fails it here too.
    """
    LOG.info("running %s", " ".join(argv))
    sys.stderr.flush()
    completed = subprocess.run(argv, check=False, stdout=sys.stderr, stderr=sys.stderr)
    if completed.returncode == 0:
        return
    if completed.returncode > 0:
        raise RuntimeError(f"the inference process refused the job (exit status {completed.returncode}), see above")
    try:
        cause = signal.Signals(-completed.returncode).name
    except ValueError:
        cause = f"signal {-completed.returncode}"
    error = InferenceCrashed(f"the inference process died with {cause} (exit status {completed.returncode})")
    LOG.error("%s/%s cannot deploy %s: %s", identity["runtime"], identity["variant"], identity["model"], error)
    write_json_atomic(output, failure_record(PROGRAM, error=error, phase=RUN_ERROR, **identity))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tvdeploy.predict.infer", description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=list(TASKS), help="the model's task (decodes its outputs)")
    parser.add_argument("--runtime", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--model", required=True, help="the model's name")
    parser.add_argument("--artifact", required=True, help="what the runtime loads")
    parser.add_argument("--labels", help="class labels, one per line (tasks whose outputs name classes)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--topk", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--output", required=True)
    parser.add_argument("dats", nargs="+", help="preprocessed images (.dat)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from tvdeploy.harnesses import harness
    from tvdeploy.harnesses.device import apply_threads, resolve_device
    from tvdeploy.host.environment import versions
    from tvdeploy.predict.outputs import store_tensor_outputs
    from tvdeploy.tasks import adapter

    threads = apply_threads(args.threads, 0)
    # A device this machine lacks stops the job (exit status 1 with the traceback): not a failure
    # of this model in this runtime.
    device = resolve_device(args.device)
    outcome = {"results": [], "error": None, "error_class": None}
    phase = LOAD_ERROR
    try:
        start = time.perf_counter()
        module = harness(args.runtime).load(args.artifact, args.model, device, args.variant)
        outcome["load_s"] = time.perf_counter() - start
        phase = RUN_ERROR
        task = adapter(args.task)
        context = task.decoding_context(args.labels, args.topk)
        outcome["results"] = store_tensor_outputs(task.predict(module, args.dats, context, device), args.output)
    except Exception as err:
        LOG.exception("%s/%s cannot deploy %s", args.runtime, args.variant, args.model)
        outcome.update(failure_fields(err, phase))
    write_json_atomic(
        args.output,
        {
            "program": PROGRAM,
            "runtime": args.runtime,
            "variant": args.variant,
            "model": args.model,
            "device": device.type,
            **threads,
            "versions": versions(),
            **outcome,
        },
    )


if __name__ == "__main__":
    main()
