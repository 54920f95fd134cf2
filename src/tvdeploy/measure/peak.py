"""The machine's measured arithmetic limit: float32 matrix products, timed with the benchmarks'
own warm-up and stopping rule, on the threads and device a comparison job gives its workers.
It is the yardstick of the efficiency columns (tvdeploy.results.efficiency).

The comparison job runs it as a subprocess (``python -m tvdeploy.measure.peak``) right before its
workers start, so the peak and the latencies come from the same minutes of the same machine."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from tvdeploy.measure.bench import Protocol, run_block, warm_up

# Large enough to reach the BLAS kernels' steady state (2048: 17 GFLOP, ~0.1 s on 2 EPYC cores),
# small enough to stay a second or two of the job.
MATMUL_SIZE = {"cpu": 2048, "cuda": 8192}
FLOP_PER_MULTIPLY_ADD = 2
PROBE_PROTOCOL = Protocol(
    warmup_iters=3, warmup_max_time_s=5.0, min_iters=10, max_iters=200, min_time_s=1.0, max_time_s=5.0
)
PROBE_TIMEOUT_S = 120


def measure(device: str, threads: int, size: int | None = None, protocol: Protocol = PROBE_PROTOCOL) -> dict:
    """GFLOP/s of every timed product of two ``size``² float32 matrices; the median is the peak
    the efficiency columns use (a best iteration would flatter a noisy machine)."""
    import numpy as np
    import torch

    from tvdeploy.harnesses.device import apply_threads, device_name, resolve_device, synchronizer

    applied = apply_threads(threads, 1)
    target = resolve_device(device)
    n = size or MATMUL_SIZE[target.type]
    # Float32 arithmetic, as the benchmarks': TF32 would count tensor-core shortcuts as peak.
    torch.backends.cuda.matmul.allow_tf32 = False
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator).to(target)
    b = torch.randn(n, n, generator=generator).to(target)
    out = torch.empty(n, n, device=target)
    synchronize = synchronizer(target)

    def step():
        torch.mm(a, b, out=out)

    with torch.inference_mode():
        warm_up(step, synchronize, protocol.warmup_iters, protocol.warmup_max_time_s)
        block = run_block(step, synchronize, protocol)
    gflop = FLOP_PER_MULTIPLY_ADD * n**3 / 1e9
    rates = [gflop / (ms / 1000) for ms in block["latencies_ms"]]
    return {
        "kind": "float32 matmul",
        "size": n,
        "gflop": gflop,
        "device": device_name(target),
        "threads": applied["threads"],
        "gflop_per_s": float(np.median(rates)),
        "iterations_gflop_per_s": rates,
        "error": None,
    }


def probe(device: str, threads: int, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Run :func:`measure` in a fresh process (the comparison job itself loads no torch). A probe
    that fails is recorded with its error; the comparison goes on without efficiency."""
    command = [sys.executable, "-m", "tvdeploy.measure.peak", "--device", device, "--threads", str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"gflop_per_s": None, "error": f"peak probe timed out after {timeout_s:.0f} s"}
    if done.returncode != 0:
        return {"gflop_per_s": None, "error": f"peak probe failed: {done.stderr.strip()[-500:]}"}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--size", type=int, default=None)
    args = parser.parse_args()
    json.dump(measure(args.device, args.threads, args.size), sys.stdout)


if __name__ == "__main__":
    main()
