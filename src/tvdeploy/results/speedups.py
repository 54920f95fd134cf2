"""The fastest deployment of each model and the geometric mean of speedups, defined once for
every table, page and goal that names them; per model the fastest deployment with its paired
speedup and cross-language ratio, and the paired comparisons counted by verdict. Torch-free: the
goals module imports it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvdeploy.registry import EAGER, PLAIN, RUNTIMES, Deployment, column_label
from tvdeploy.results.accuracy import fell_short
from tvdeploy.results.formatting import interval_text
from tvdeploy.results.frames import DEPLOYMENT_KEYS

# One measurement setting of a run: its rows are comparable with each other.
RUN_KEYS = ["run", "device", "batch_size"]


def fastest_deployments(latency: pd.DataFrame) -> pd.DataFrame:
    """Per run, device, batch size and model: the deployment (any runtime but eager) with the
    largest paired speedup over eager, the estimate measured in the same interleaved rounds
    (not the smallest median, which comes from one launch's drift). Below 1.0 every deployment
    of that model was slower than eager. Models without a paired speedup are absent."""
    deployed = latency[(latency["runtime"] != EAGER) & latency["speedup_vs_eager"].notna()]
    if deployed.empty:
        return deployed
    best = deployed.groupby([*RUN_KEYS, "model"], sort=True)["speedup_vs_eager"].idxmax()
    return deployed.loc[best.to_numpy()].reset_index(drop=True)


def geometric_mean(values) -> float:
    values = np.asarray(list(values), dtype=np.float64)
    return float(np.exp(np.log(values).mean())) if values.size else float("nan")


def deployment_summary(latency: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """Per device, batch size and model: the fastest deployment with its paired speedup over
    eager, and per variant the cross-language ratio (e.g. ts-cpp / ts-python on the same .pt)
    with its interval."""
    rows = []
    fastest = fastest_deployments(latency).set_index([*RUN_KEYS, "model"])
    for (run, device, batch, model), group in latency.groupby([*RUN_KEYS, "model"], sort=True):
        eager = group[group["runtime"] == EAGER]
        if eager.empty or (run, device, batch, model) not in fastest.index:
            continue
        best = fastest.loc[(run, device, batch, model)]
        eager_ms = float(eager["median_ms"].iloc[0])
        row = {"run": run, "device": device, "batch_size": batch, "model": model, "eager_ms": eager_ms}
        if best["speedup_vs_eager"] < 1.0:
            # Every deployment is slower than eager PyTorch by its paired estimate: eager is the
            # fastest way to run this model, and a user should read that here.
            row.update(fastest=column_label(EAGER, PLAIN), fastest_ms=eager_ms, speedup_vs_eager=1.0)
            row.update(speedup_ci_low=np.nan, speedup_ci_high=np.nan)
        else:
            row.update(
                fastest=column_label(best["runtime"], best["variant"]),
                fastest_ms=float(best["median_ms"]),
                speedup_vs_eager=float(best["speedup_vs_eager"]),
                speedup_ci_low=float(best["speedup_ci_low"]),
                speedup_ci_high=float(best["speedup_ci_high"]),
            )
        cross = ratios[
            (ratios["run"] == run)
            & (ratios["device"] == device)
            & (ratios["batch_size"] == batch)
            & (ratios["model"] == model)
            & (ratios["kind"] == "cross_language")
            & ratios["verdict"].notna()
        ]
        for _, c in cross.iterrows():
            candidate, reference = Deployment.from_key(c["candidate"]), Deployment.from_key(c["reference"])
            languages = f"{RUNTIMES[candidate.runtime].language}/{RUNTIMES[reference.runtime].language}"
            row[f"{languages} {candidate.variant}"] = interval_text(c["ratio"], c["ci_low"], c["ci_high"])
            row[f"verdict {candidate.variant}"] = c["verdict"]
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_counts(ratios: pd.DataFrame) -> pd.DataFrame:
    """Paired comparisons per kind (rows) and verdict (columns); empty when none was judged."""
    judged = ratios[ratios["verdict"].notna()]
    if judged.empty:
        return pd.DataFrame()
    return judged.pivot_table(index="kind", columns="verdict", values="model", aggfunc="count", fill_value=0)


# fastest_by_precision's row of the fastest agreeing deployment at any precision.
ANY_AGREEING = "any precision, outputs agree"
# Its label where accuracy was judged on labeled images too.
ANY_ACCURATE = "any precision, outputs agree, accurate enough"


def _with_verdict(measured: pd.DataFrame, verdicts: pd.DataFrame | None, column: str) -> pd.DataFrame:
    """``measured`` with each deployment's ``column`` from ``verdicts`` (None where it has none)."""
    if verdicts is None or verdicts.empty:
        return measured.assign(**{column: None})
    return measured.merge(verdicts[[*DEPLOYMENT_KEYS, column]], on=DEPLOYMENT_KEYS, how="left")


def fastest_by_precision(
    latency: pd.DataFrame, deployability: pd.DataFrame | None = None, accuracy: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per run, device, batch size and model, at each precision its deployments computed in
    (the latency table's ``precision``: an int8 variant's, or an eager-quantized model's), the
    deployment with the largest paired speedup over eager, eager included (1.0) at its own
    precision; ``agrees``: whether its outputs agreed with their reference (the deployability
    table's ``ok``; None without that table); ``accurate_enough``: whether its accuracy on the
    labeled images reached the floor (tvdeploy.results.accuracy; None where not judged). One
    more row per model, precision ``any agreeing``: the fastest deployment whose outputs agreed
    and whose accuracy, where judged, reached the floor, whatever its precision."""
    measured = latency[latency["speedup_vs_eager"].notna()]
    if measured.empty or "precision" not in measured.columns:
        return pd.DataFrame()
    keys = [*RUN_KEYS, "model"]
    ok = None if deployability is None else deployability.assign(agrees=deployability["status"] == "ok")
    measured = _with_verdict(measured, ok, "agrees")
    measured = _with_verdict(measured, accuracy, "accurate_enough").reset_index(drop=True)
    per_precision = measured.loc[measured.groupby([*keys, "precision"], sort=True)["speedup_vs_eager"].idxmax()]
    agreeing = measured[measured["agrees"].eq(True) & ~measured["accurate_enough"].map(fell_short)]
    best_agreeing = agreeing.loc[agreeing.groupby(keys, sort=True)["speedup_vs_eager"].idxmax()].assign(
        precision=ANY_ACCURATE if measured["accurate_enough"].notna().any() else ANY_AGREEING
    )
    columns = [*keys, "precision", "runtime", "variant", "median_ms", "speedup_vs_eager"]
    columns += ["speedup_ci_low", "speedup_ci_high", "agrees", "accurate_enough"]
    return pd.concat([per_precision, best_agreeing])[columns].sort_values([*keys]).reset_index(drop=True)
