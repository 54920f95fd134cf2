"""The machine's arithmetic ceiling, per precision: matrix products of several shapes, each timed
with the benchmarks' own warm-up and stopping rule on the threads and device a comparison job
gives its workers, and beside them the CPU's theoretical FMA peak. It is the yardstick of the
efficiency columns (tvdeploy.results.efficiency).

The measured peak of a precision is the best shape's median rate: one square product can miss
the BLAS kernels' best blocking, and convolutions lower to skinny products (im2col of a 3×3
conv over 56×56×64 is 3136×576 times 576×64), so the best of several is the ceiling. Reduced
precisions are probed only where the hardware runs them natively; elsewhere they are recorded
as skipped, with why (an emulated rate is no ceiling).

The comparison job runs it as a subprocess (``python -m tvdeploy.measure.peak``) right before its
workers start, so the peak and the latencies come from the same minutes of the same machine.
Its record keeps ``gflop_per_s`` (the float32 peak) and ``error`` at the top, as old records have."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable

from tvdeploy.harnesses.allocator import benchmark_environment
from tvdeploy.host.devices import cpu_clock_mhz, read_cpu_flags
from tvdeploy.measure.bench import Protocol, run_block, warm_up
from tvdeploy.registry.precisions import BFLOAT16, FLOAT16, FLOAT32, INT8, skip_reason

FLOP_PER_MULTIPLY_ADD = 2
# Every precision of the registry is probed (or skipped, with why).
PRECISIONS = (FLOAT32, BFLOAT16, FLOAT16, INT8)
# (M, K, N) of each timed product: squares (2048 reaches the BLAS kernels' steady state, ~0.3 s on
# 2 EPYC cores) and the skinny products of convolution lowering (resnet layer1 and layer2 3×3
# convs). All dimensions multiples of 64, as torch._int_mm's CUDA kernels require 8.
GEMM_SHAPES = {
    "cpu": ((1024, 1024, 1024), (2048, 2048, 2048), (3136, 576, 64), (784, 1152, 128)),
    "cuda": ((4096, 4096, 4096), (8192, 8192, 8192), (25088, 576, 64), (6272, 1152, 128)),
}
# A few seconds in all on 2 cores: it runs before every comparison.
PROBE_PROTOCOL = Protocol(
    warmup_iters=2, warmup_max_time_s=2.0, min_iters=5, max_iters=200, min_time_s=0.3, max_time_s=2.0
)
PROBE_TIMEOUT_S = 120

# Theoretical peak: float32 lanes of the widest FMA vector the flags name.
VECTOR_LANES = (("avx512f", 16), ("fma", 8), ("avx2", 8))
# Not in the CPU flags: Zen 4/5 and most Xeon Scalable cores issue two vector FMAs per cycle,
# some AVX-512 parts only one 512-bit FMA. Two makes the theoretical peak an upper bound.
FMA_UNITS_PER_CORE = 2


def theoretical_fma_peak(cores: int, clock_mhz: float | None, clock_source: str | None, flags: Iterable[str]) -> dict:
    """cores × clock × float32 lanes × FMA units per core × 2 FLOP, with what each factor came
    from; ``gflop_per_s`` is None (and ``skipped`` says why) where the clock or the vector width
    is unknown."""
    flags = set(flags)
    vector_flag, lanes = next(((flag, n) for flag, n in VECTOR_LANES if flag in flags), (None, None))
    record = {
        "gflop_per_s": None,
        "cores": cores,
        "clock_mhz": clock_mhz,
        "clock_source": clock_source,
        "vector_flag": vector_flag,
        "float32_lanes": lanes,
        "fma_units_per_core": FMA_UNITS_PER_CORE,
        "flop_per_fma": FLOP_PER_MULTIPLY_ADD,
        "assumptions": (
            f"{FMA_UNITS_PER_CORE} FMA units per core assumed (the flags do not say; some AVX-512 parts have 1); "
            "every core used runs at the recorded clock (a VM's /proc/cpuinfo clock is the nominal one, "
            "not the boost)"
        ),
        "skipped": None,
    }
    if not clock_mhz:
        record["skipped"] = "no CPU clock (neither lscpu's CPU max MHz nor /proc/cpuinfo's cpu MHz)"
    elif lanes is None:
        record["skipped"] = "no FMA vector flag (avx512f, fma, avx2) in the CPU flags"
    else:
        record["gflop_per_s"] = cores * clock_mhz / 1e3 * lanes * FMA_UNITS_PER_CORE * FLOP_PER_MULTIPLY_ADD
    return record


def product(precision: str, shape: tuple[int, int, int], target) -> Callable[[], object]:
    """One ``precision`` product of ``shape`` = (M, K, N) on ``target``, operands made once."""
    import torch

    m, k, n = shape
    generator = torch.Generator().manual_seed(0)
    if precision == INT8:
        a = torch.randint(-128, 128, (m, k), generator=generator, dtype=torch.int8).to(target)
        b = torch.randint(-128, 128, (k, n), generator=generator, dtype=torch.int8).to(target)
        return lambda: torch._int_mm(a, b)  # int8 in, int32 accumulated and out
    dtype = {FLOAT32: torch.float32, BFLOAT16: torch.bfloat16, FLOAT16: torch.float16}[precision]
    a = torch.randn(m, k, generator=generator).to(target, dtype)
    b = torch.randn(k, n, generator=generator).to(target, dtype)
    out = torch.empty(m, n, device=target, dtype=dtype)
    return lambda: torch.mm(a, b, out=out)


def measure_precision(precision: str, shapes, target, synchronize, protocol: Protocol) -> dict:
    """Every shape's median GOP/s (and its iterations); the peak is the best shape's median (a
    best iteration would flatter a noisy machine)."""
    import numpy as np
    import torch

    timed = []
    for shape in shapes:
        step = product(precision, shape, target)
        with torch.inference_mode():
            warm_up(step, synchronize, protocol.warmup_iters, protocol.warmup_max_time_s)
            block = run_block(step, synchronize, protocol)
        m, k, n = shape
        gop = FLOP_PER_MULTIPLY_ADD * m * k * n / 1e9
        rates = [gop / (ms / 1000) for ms in block["latencies_ms"]]
        timed.append(
            {"shape": list(shape), "gop": gop, "gop_per_s": float(np.median(rates)), "iterations_gop_per_s": rates}
        )
    best = max(timed, key=lambda s: s["gop_per_s"])
    return {"gop_per_s": best["gop_per_s"], "shape": best["shape"], "shapes": timed, "skipped": None, "error": None}


def measure(
    device: str,
    threads: int,
    shapes: Iterable[tuple[int, int, int]] | None = None,
    protocol: Protocol = PROBE_PROTOCOL,
    flags: Iterable[str] | None = None,
    clock: tuple[float | None, str | None] | None = None,
) -> dict:
    """The peak record: per precision the best shape's GOP/s or why it was skipped, the
    theoretical FMA peak (CPU), and ``gflop_per_s``, the float32 peak, as before.
    ``flags``/``clock`` default to this machine's."""
    import torch

    from tvdeploy.harnesses.device import apply_threads, device_name, resolve_device, synchronizer

    applied = apply_threads(threads, 1)
    target = resolve_device(device)
    shapes = [tuple(s) for s in (shapes or GEMM_SHAPES[target.type])]
    flags = read_cpu_flags() if flags is None else frozenset(flags)
    # Float32 arithmetic, as the benchmarks': TF32 would count tensor-core shortcuts as peak.
    torch.backends.cuda.matmul.allow_tf32 = False
    synchronize = synchronizer(target)
    precisions = {}
    for precision in PRECISIONS:
        reason = skip_reason(precision, target.type, flags)
        if reason:
            precisions[precision] = {"gop_per_s": None, "skipped": reason, "error": None}
            continue
        try:
            precisions[precision] = measure_precision(precision, shapes, target, synchronize, protocol)
        except (RuntimeError, NotImplementedError) as error:  # a kernel this build or device lacks
            precisions[precision] = {"gop_per_s": None, "skipped": None, "error": f"{type(error).__name__}: {error}"}
    if target.type == "cpu":
        theoretical = theoretical_fma_peak(applied["threads"], *(clock or cpu_clock_mhz()), flags)
    else:
        theoretical = {"gflop_per_s": None, "skipped": "theoretical FMA peak is computed for CPUs only"}
    float32 = precisions[FLOAT32]
    return {
        "kind": "matmul peaks",
        "device": device_name(target),
        "threads": applied["threads"],
        "gflop_per_s": float32["gop_per_s"],
        "precisions": precisions,
        "theoretical": theoretical,
        "error": float32["error"],
    }


def probe(device: str, threads: int, timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """Run :func:`measure` in a fresh process (the comparison job itself loads no torch). A probe
    that fails is recorded with its error; the comparison goes on without efficiency."""
    command = [sys.executable, "-m", "tvdeploy.measure.peak", "--device", device, "--threads", str(threads)]
    try:
        # Under the heap settings of every benchmark worker, like the workers it is the yardstick of.
        environment = benchmark_environment(os.environ)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False, env=environment)
    except subprocess.TimeoutExpired:
        return {"gflop_per_s": None, "error": f"peak probe timed out after {timeout_s:.0f} s"}
    if done.returncode != 0:
        return {"gflop_per_s": None, "error": f"peak probe failed: {done.stderr.strip()[-500:]}"}
    return json.loads(done.stdout)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``MxKxN`` (or one size N for an N×N×N product)."""
    sizes = [int(s) for s in text.lower().split("x")]
    if len(sizes) == 1:
        sizes *= 3
    if len(sizes) != 3 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"shape {text!r}: expected MxKxN or N, positive")
    return tuple(sizes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--shape", type=parse_shape, action="append", help="MxKxN, repeatable (default: GEMM_SHAPES)")
    args = parser.parse_args()
    json.dump(measure(args.device, args.threads, args.shape), sys.stdout)


if __name__ == "__main__":
    main()
