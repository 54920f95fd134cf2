"""Performance goals of an experiment config, judged from the paired intervals.

A goal is ``met`` when the whole interval is on its good side, ``missed`` only when the whole
interval is on its bad side, and ``undecided`` when the interval straddles the target: this
machine could not tell. Like the comparison verdicts, a goal allows the configured resolution
(``compare.resolution``): a ratio goal of 1.0 at 3 % is met by an interval below 1.03, since
differences smaller than that are not claimed either way. Goals are optional (``goals:`` in the
config); ``config/perf_goals.yaml`` sets them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvdeploy.registry import (
    AOTI,
    CPP,
    PEER_REFERENCE,
    RUNTIMES,
    TORCHSCRIPT,
    Deployment,
)
from tvdeploy.results.speedups import fastest_deployments, geometric_mean

MET, MISSED, UNDECIDED = "met", "missed", "undecided"


def judge(value_low: float, value_high: float, target: float, higher_is_better: bool, resolution: float = 0.0) -> str:
    if higher_is_better:
        bound = target / (1 + resolution)
        return MET if value_low >= bound else MISSED if value_high < bound else UNDECIDED
    bound = target * (1 + resolution)
    return MET if value_high <= bound else MISSED if value_low > bound else UNDECIDED


def judge_goals(latency: pd.DataFrame, ratios: pd.DataFrame, goals: dict, resolution: float = 0.0) -> pd.DataFrame:
    """One row per goal, device and batch size: the measured value with its interval and the verdict.

    - ``min_speedup_geomean``: the geometric mean over models of the fastest deployment's speedup
      over eager (``tvdeploy.results.speedups.fastest_deployments``: below 1.0 where every deployment of a
      model was slower than eager, never rounded up to eager's 1.0); its interval is the geometric
      mean of the per-model interval bounds (each bound holds for every model at once only
      conservatively, so this is wide, never optimistic).
    - ``max_cross_language_ratio``: every cross-language ratio (C++ / Python on the same
      artifact) at most this; one row per pair, missed where the interval lies above it.
    - ``max_cpp_vs_peer_ratio``: per model, the best LibTorch deployment in C++ (TorchScript in
      any variant or AOTInductor, in the C++ programs) against the peer runtime (ONNX Runtime) at
      most this; a model whose LibTorch C++ deployments all failed is missed. "Matches" is met
      or undecided: the interval does not lie above it.
    - ``max_floor_ratio``: per model, the same fastest deployment's latency over the compute floor
      (the model's FLOP at the peak its comparison job measured, tvdeploy.results.efficiency) at most
      this; a point value, since the peak is one measurement per job.
    """
    rows = []
    # One selection for both goals that name the fastest deployment.
    fastest = fastest_deployments(latency)
    if "min_speedup_geomean" in goals:
        target = goals["min_speedup_geomean"]
        for (device, batch), best in fastest.groupby(["device", "batch_size"], sort=True):
            value, low, high = (
                geometric_mean(best[c]) for c in ("speedup_vs_eager", "speedup_ci_low", "speedup_ci_high")
            )
            rows.append(
                {
                    "goal": f"fastest deployment vs eager, geometric mean over {len(best)} models >= {target}",
                    "device": device,
                    "batch_size": batch,
                    "subject": "all models",
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "verdict": judge(low, high, target, higher_is_better=True, resolution=resolution),
                }
            )
    if "max_cross_language_ratio" in goals:
        target = goals["max_cross_language_ratio"]
        cross = ratios[(ratios["kind"] == "cross_language") & ratios["verdict"].notna()]
        for _, c in cross.iterrows():
            rows.append(
                {
                    "goal": f"{c['candidate']} / {c['reference']} <= {target}",
                    "device": c["device"],
                    "batch_size": c["batch_size"],
                    "subject": c["model"],
                    "value": c["ratio"],
                    "ci_low": c["ci_low"],
                    "ci_high": c["ci_high"],
                    "verdict": judge(c["ci_low"], c["ci_high"], target, higher_is_better=False, resolution=resolution),
                }
            )
    if "max_cpp_vs_peer_ratio" in goals:
        rows += _cpp_vs_peer_rows(latency, ratios, goals["max_cpp_vs_peer_ratio"], resolution)
    if "max_floor_ratio" in goals:
        target = goals["max_floor_ratio"]
        for _, best in fastest[fastest["peak_fraction"].notna()].iterrows():
            device, batch, model = best["device"], best["batch_size"], best["model"]
            value = 1.0 / best["peak_fraction"]
            rows.append(
                {
                    "goal": f"fastest deployment ({best['runtime']} {best['variant']}) / compute floor <= {target}",
                    "device": device,
                    "batch_size": batch,
                    "subject": model,
                    "value": value,
                    "ci_low": value,
                    "ci_high": value,
                    "verdict": judge(value, value, target, higher_is_better=False, resolution=resolution),
                }
            )
    return pd.DataFrame(
        rows, columns=["goal", "device", "batch_size", "subject", "value", "ci_low", "ci_high", "verdict"]
    )


def _cpp_vs_peer_rows(latency: pd.DataFrame, ratios: pd.DataFrame, target: float, resolution: float) -> list[dict]:
    # LibTorch's C++ deployments, not every C++ runtime (openvino-cpp is the peer's own C++ path).
    cpp_runtimes = {name for name, rt in RUNTIMES.items() if rt.language == CPP and rt.artifact in (TORCHSCRIPT, AOTI)}
    peer = ratios[(ratios["kind"] == "vs_peer") & ratios["verdict"].notna()]
    peer = peer[[Deployment.from_key(c).runtime in cpp_runtimes for c in peer["candidate"]]]
    goal = f"best LibTorch C++ deployment / {PEER_REFERENCE} <= {target}"
    rows = []
    for (device, batch), group in latency.groupby(["device", "batch_size"], sort=True):
        for model in sorted(group["model"].unique()):
            candidates = peer[(peer["device"] == device) & (peer["batch_size"] == batch) & (peer["model"] == model)]
            row = {"goal": goal, "device": device, "batch_size": batch, "subject": model}
            if candidates.empty:
                rows.append({**row, "value": np.nan, "ci_low": np.nan, "ci_high": np.nan, "verdict": MISSED})
                continue
            best = candidates.loc[candidates["ratio"].idxmin()]
            verdict = judge(best["ci_low"], best["ci_high"], target, higher_is_better=False, resolution=resolution)
            rows.append(
                {
                    **row,
                    "goal": f"{goal} ({best['candidate']})",
                    "value": best["ratio"],
                    "ci_low": best["ci_low"],
                    "ci_high": best["ci_high"],
                    "verdict": verdict,
                }
            )
    return rows


def goals_markdown(judged: pd.DataFrame, resolution: float = 0.0) -> str:
    if judged.empty:
        return ""
    counts = judged["verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in (MET, MISSED, UNDECIDED))
    return (
        "### Performance goals\n\n"
        f"Judged from the 95 % intervals, allowing the {resolution:.0%} resolution: met where the whole "
        "interval is on the right side, missed only where the whole interval is on the wrong side, "
        f"undecided where it straddles the target. {summary}.\n\n"
        f"{judged.round(3).to_markdown(index=False)}\n"
    )
