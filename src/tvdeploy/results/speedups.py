"""The fastest deployment of each model and the geometric mean of speedups, defined once for
every table, page and goal that names them. Torch-free: the goals module imports it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tvdeploy.registry import EAGER

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
