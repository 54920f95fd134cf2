"""A long-lived benchmark worker for one Python runtime × variant (``python -m tvdeploy.measure.worker``).

It loads the deployment once, then serves requests, one JSON object per line on stdin, each
answered by one JSON line on stdout:

- on start, unasked: ``{"ok": true, "ready": {threads, interop_threads, device, device_name, versions,
  allocator, first_call_s}}`` (allocator: the malloc settings its environment gave it, as in
  tvdeploy.harnesses.allocator; first_call_s: the first forward, timed alone: compilation where
  the runtime compiles)
- ``{"op": "warmup", "iters": N, "max_time_s": S}`` → ``{"ok": true, "iters": n, "seconds": s}``
- ``{"op": "block", "min_iters", "max_iters", "min_time_s", "max_time_s"}`` →
  ``{"ok": true, "latencies_ms": [...], "stop_reason": "...", "wall_s": w}``
- ``{"op": "quit"}`` ends the process; so does the end of stdin.

A request that fails is answered ``{"ok": false, "error": "..."}``. Between requests the worker
sits in a blocking read and uses no CPU. The C++ ``bench --serve`` speaks the same protocol.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import IO

from tvdeploy.harnesses.allocator import allocator_settings
from tvdeploy.measure.bench import run_block, warm_up
from tvdeploy.registry.failures import error_text


class RequestError(ValueError):
    """A request the worker cannot serve."""


class _Rule:
    """The stopping rule of one block request (the fields ``stop_reason`` reads)."""

    def __init__(self, request: dict):
        try:
            self.min_iters = int(request["min_iters"])
            self.max_iters = int(request["max_iters"])
            self.min_time_s = float(request["min_time_s"])
            self.max_time_s = float(request["max_time_s"])
        except (KeyError, TypeError, ValueError) as err:
            raise RequestError(f"block request needs min_iters, max_iters, min_time_s, max_time_s: {err}") from err
        if not (1 <= self.min_iters <= self.max_iters and 0 < self.min_time_s <= self.max_time_s):
            raise RequestError(f"inconsistent block request {request}")


def serve(
    step: Callable[[], object],
    synchronize: Callable[[], None],
    ready: dict,
    requests: IO[str],
    answers: IO[str],
) -> None:
    """Answer requests until ``quit`` or the end of ``requests``."""

    def answer(message: dict) -> None:
        answers.write(json.dumps(message) + "\n")
        answers.flush()

    answer({"ok": True, "ready": ready})
    for line in requests:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "quit":
                return
            if op == "warmup":
                result = warm_up(step, synchronize, int(request["iters"]), float(request.get("max_time_s", math.inf)))
            elif op == "block":
                result = run_block(step, synchronize, _Rule(request))
            else:
                raise RequestError(f"unknown op {op!r} (expected warmup, block or quit)")
        except Exception as err:  # one bad request or failed forward is answered, not fatal
            answer(error_answer(err))
            continue
        answer({"ok": True, **result})


def error_answer(error: BaseException, log: bool = True) -> dict:
    """The protocol's answer to a failure: its message shortened for the tables (a TorchScript
    error can carry a whole graph, megabytes repeated in every row that names the deployment);
    with ``log`` the whole message goes to stderr, the rule's log (else a traceback follows)."""
    if log:
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return {"ok": False, "error": error_text(error)}


def batch_of(tensor, batch_size: int):
    """A batch-1 input repeated along its first axis to ``batch_size`` (any rank), contiguous."""
    return tensor.repeat(batch_size, *([1] * (tensor.ndim - 1))).contiguous()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tvdeploy.measure.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--artifact", required=True, help="the file the runtime loads")
    parser.add_argument(
        "--input", required=True, action="append", help="a preprocessed model input X.dat (batch 1); once per input"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--interop-threads", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    # What glibc read when this process started, before anything can change the environment.
    allocator = allocator_settings(os.environ)
    args = parse_args(argv)
    # The protocol owns stdout; anything else printed goes to stderr (the rule's log).
    protocol_out, sys.stdout = sys.stdout, sys.stderr

    import torch

    from tvdeploy.build.records import check_baked_threads
    from tvdeploy.harnesses import harness
    from tvdeploy.harnesses.device import apply_threads, device_name, resolve_device, synchronizer
    from tvdeploy.host.environment import versions
    from tvdeploy.inputs.dat import read_dat
    from tvdeploy.registry import AOTI, runtime

    try:
        threads = apply_threads(args.threads, args.interop_threads)
        device = resolve_device(args.device)
        if runtime(args.runtime).artifact == AOTI:
            check_baked_threads(args.artifact, device.type, threads["threads"])
        module = harness(args.runtime).load(args.artifact, args.model, device, args.variant)
        # The real preprocessed inputs, repeated to fill the batch: identical bytes in every harness.
        inputs = tuple(batch_of(read_dat(path), args.batch_size).to(device) for path in args.input)
        synchronize = synchronizer(device)
        # The first call apart from warm-up and timing: where a runtime compiles (torch.compile)
        # or initialises lazily, this is that cost, reported instead of hidden in the warm-up.
        with torch.inference_mode():
            start = time.perf_counter()
            module(*inputs)
            synchronize()
            first_call_s = time.perf_counter() - start
    except Exception as err:
        # Tell the coordinator why, in the protocol, then fail with the traceback in the log.
        protocol_out.write(json.dumps(error_answer(err, log=False)) + "\n")
        protocol_out.flush()
        raise
    ready = {
        **threads,
        "device": device.type,
        "device_name": device_name(device),
        "versions": versions(),
        "allocator": allocator,
        "first_call_s": first_call_s,
    }
    if hasattr(module, "fusion_groups"):
        # Proof that TorchScript's fuser ran (tvdeploy.build.load.FusedModule), and its warm-up.
        ready.update(fusion_groups=module.fusion_groups(), profiling_calls=module.profiling_calls)
    if hasattr(module, "captures"):
        # Proof that the forward is a CUDA graph replay (tvdeploy.build.cuda_graphs), as the C++ bench reports.
        ready.update(cuda_graph_captures=module.captures)
    with torch.inference_mode():
        serve(lambda: module(*inputs), synchronize, ready, sys.stdin, protocol_out)


if __name__ == "__main__":
    main()
