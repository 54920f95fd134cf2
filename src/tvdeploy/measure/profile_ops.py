"""Where a model's time goes on this machine, by kind of operator: rule ``profile_ops``
(``results/runs/{run}/profile/cpu/{model}.md``, on request) or ``python -m tvdeploy.measure.profile_ops``.

The efficiency column says how far a deployment is from the matmul peak; this says why: it runs
the eager module under ``torch.profiler`` (shapes and FLOP counts recorded) and sums self time
and FLOPs per kind of operator — depthwise, pointwise (1×1) and other convolutions, matrix
products, and the rest. A kind with a large share of the time at a small fraction of the peak is
what keeps the model from its compute floor. Eager is profiled because its operators are
visible one by one (fused TorchScript, ONNX Runtime and OpenVINO run fused kernels whose parts
the profilers do not separate); the breakdown names the work, not a deployment's speed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

DEPTHWISE, POINTWISE, CONV, MATMUL, OTHER = (
    "depthwise conv",
    "pointwise conv (1x1)",
    "other conv",
    "matmul / linear",
    "everything else",
)
# Profiled forwards: at least MIN_FORWARDS, then until MAX_FORWARDS or MAX_TIME_S.
WARMUP_FORWARDS, MIN_FORWARDS, MAX_FORWARDS, MAX_TIME_S = 3, 3, 30, 10.0
MATMUL_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::matmul", "aten::linear", "aten::baddbmm")


@dataclass(frozen=True)
class OpRecord:
    """One operator and input shapes, as the profiler's table of averages gives them."""

    name: str
    shapes: Sequence[Sequence[int]]
    self_cpu_us: float
    flops: float


def kind(name: str, shapes: Sequence[Sequence[int]]) -> str:
    """The kind of an operator from its name and input shapes (a convolution's weight is its second
    input, [out, in / groups, kh, kw]: one input channel per group over as many groups as input
    channels is depthwise)."""
    # aten::conv2d and what it calls (convolution, mkldnn_convolution, ...) share the two shapes.
    is_conv = "conv" in name and "convert" not in name
    if is_conv and len(shapes) >= 2 and len(shapes[0]) == 4 and len(shapes[1]) == 4:
        in_channels = shapes[0][1]
        out_channels, per_group, kh, kw = shapes[1]
        if per_group == 1 and in_channels > 1 and out_channels % in_channels == 0:
            return DEPTHWISE
        return POINTWISE if (kh, kw) == (1, 1) else CONV
    if name in MATMUL_OPS:
        return MATMUL
    return OTHER


def breakdown(records: Iterable[OpRecord], forwards: int, peak_gflop_per_s: float | None = None) -> pd.DataFrame:
    """Per kind: ms and GFLOP per forward, share of the time and of the FLOPs, GFLOP/s and the
    fraction of the peak. Only outermost convolution calls carry FLOPs (the profiler counts them
    once, at aten::conv2d); their nested calls' self time is added to the same kind (so a count
    of calls would count each convolution at every level: none is reported)."""
    rows = {}
    for rec in records:
        row = rows.setdefault(kind(rec.name, rec.shapes), {"self_ms": 0.0, "gflop": 0.0})
        row["self_ms"] += rec.self_cpu_us / 1000.0
        row["gflop"] += rec.flops / 1e9
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "kind"
    table = table / forwards
    table["time share"] = table["self_ms"] / table["self_ms"].sum()
    table["flop share"] = table["gflop"] / table["gflop"].sum() if table["gflop"].sum() > 0 else 0.0
    table["GFLOP/s"] = table["gflop"] / (table["self_ms"] / 1000.0)
    if peak_gflop_per_s:
        table["of peak"] = table["GFLOP/s"] / peak_gflop_per_s
    return table.sort_values("self_ms", ascending=False)


def top_operators(records: Iterable[OpRecord], forwards: int, per_kind: int = 4) -> dict[str, str]:
    """The operators that take most of each kind's time, e.g. what "everything else" is."""
    by_kind: dict[str, dict[str, float]] = {}
    for rec in records:
        ops = by_kind.setdefault(kind(rec.name, rec.shapes), {})
        ops[rec.name] = ops.get(rec.name, 0.0) + rec.self_cpu_us / 1000.0 / forwards
    return {
        name: ", ".join(f"{op} {ms:.2f}" for op, ms in sorted(ops.items(), key=lambda item: -item[1])[:per_kind])
        for name, ops in by_kind.items()
    }


def profile(
    module, batch, max_forwards: int = MAX_FORWARDS, max_time_s: float = MAX_TIME_S
) -> tuple[list[OpRecord], int]:
    """Profile forwards of ``module`` on ``batch`` (a tensor, or a tuple of one per model
    argument: optical flow's image1, image2) after a bounded warm-up: at least
    MIN_FORWARDS, then until ``max_forwards`` or ``max_time_s`` (vit_h_14 takes ~20 s a forward
    on 2 cores). Returns the operator records and the number of forwards they cover."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    inputs = batch if isinstance(batch, tuple) else (batch,)
    with torch.inference_mode():
        start = time.perf_counter()
        for _ in range(WARMUP_FORWARDS):
            module(*inputs)
            if time.perf_counter() - start > max_time_s:
                break
        forwards = 0
        start = time.perf_counter()
        with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
            while forwards < MIN_FORWARDS or (forwards < max_forwards and time.perf_counter() - start < max_time_s):
                module(*inputs)
                forwards += 1
    records = [
        OpRecord(e.key, e.input_shapes, e.self_cpu_time_total, e.flops or 0.0)
        for e in prof.key_averages(group_by_input_shape=True)
    ]
    return records, forwards


def report(model: str, weights: str, dats: list[str], threads: int, peak_gflop_per_s: float | None) -> str:
    """The breakdown of one model's eager forward on this CPU as a markdown page; ``dats``: the
    call's preprocessed inputs, one per model argument in order."""
    from tvdeploy.catalog.models import build_model
    from tvdeploy.harnesses.device import apply_threads
    from tvdeploy.host.environment import cpu_info, versions
    from tvdeploy.inputs.dat import read_dat

    applied = apply_threads(threads, 1)
    module = build_model(model, weights).eval()
    records, forwards = profile(module, tuple(read_dat(dat) for dat in dats))
    table = breakdown(records, forwards, peak_gflop_per_s)
    table["largest operators (ms per forward)"] = pd.Series(top_operators(records, forwards))
    peak = f"{peak_gflop_per_s:.0f} GFLOP/s" if peak_gflop_per_s else "not measured"
    return (
        f"# Where {model}'s time goes (eager, batch 1)\n\n"
        f"Written by tvdeploy.measure.profile_ops: torch.profiler over {forwards} forwards of the eager module "
        f"on {', '.join(map(str, dats))}, {applied['threads']} threads, {cpu_info()['model']}, "
        f"torch {versions()['torch']}; "
        f"float32 matmul peak measured just before: {peak}. Self time and FLOPs per forward, by kind "
        "of operator.\n\n"
        f"{table.round(3).to_markdown()}\n"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tvdeploy.measure.profile_ops", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--weights", required=True, help="data/weights/{model}.pth")
    parser.add_argument(
        "--input",
        required=True,
        action="append",
        help="a preprocessed input (.dat) of this model; one per model argument",
    )
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--peak", type=float, default=None, help="the machine's GFLOP/s (tvdeploy.measure.peak)")
    args = parser.parse_args(argv)
    sys.stdout.write(report(args.model, args.weights, args.input, args.threads, args.peak))


if __name__ == "__main__":
    main()
