"""How far each deployment is from the machine's limit: the model's arithmetic per second,
against the float32 matmul peak measured in the same comparison job (tvdeploy.measure.peak).

torchvision's weights metadata (``_ops``, the catalog's ``gflops``) counts multiply-accumulates:
resnet50 4.09 G, where ``torch.utils.flop_counter`` counts 8.18 GFLOP. The peak counts a
multiply-add as two operations, so the model's count is doubled to match. A deployment can pass
100 %: convolution algorithms such as Winograd do fewer operations than the model's nominal
count, and GPU convolutions may use TF32, which the float32 matmul peak excludes. Torch-free."""

from __future__ import annotations

import math

import pandas as pd

from tvdeploy.measure.peak import FLOP_PER_MULTIPLY_ADD
from tvdeploy.registry import deployments_of, ordered_labels

EFFICIENCY_COLUMNS = ["model_gflop", "gflop_per_s", "peak_gflop_per_s", "peak_fraction"]


def efficiency(gmacs: float | None, batch_size: int, median_ms: float | None, peak_gflop_per_s: float | None) -> dict:
    """The efficiency columns of one latency row; NaN where a number is missing."""
    nan = float("nan")
    model_gflop = FLOP_PER_MULTIPLY_ADD * gmacs * batch_size if gmacs is not None and not math.isnan(gmacs) else nan
    rate = model_gflop / (median_ms / 1000) if median_ms and not math.isnan(model_gflop) else nan
    peak = float(peak_gflop_per_s) if peak_gflop_per_s else nan
    return {
        "model_gflop": model_gflop,
        "gflop_per_s": rate,
        "peak_gflop_per_s": peak,
        "peak_fraction": rate / peak if not math.isnan(peak) else nan,
    }


def efficiency_markdown(table: pd.DataFrame) -> str:
    """Per run, device and batch size: model rows, one column per deployment with its GFLOP/s
    and, in parentheses, the fraction of the measured peak."""
    measured = table[table["gflop_per_s"].notna()]
    parts = []
    for (run, device, batch), group in measured.groupby(["run", "device", "batch_size"], sort=True):
        cell = [
            f"{rate:.0f} ({fraction:.0%})" if not math.isnan(fraction) else f"{rate:.0f}"
            for rate, fraction in zip(group["gflop_per_s"], group["peak_fraction"], strict=True)
        ]
        deployments = deployments_of(group)
        wide = group.assign(column=[d.label for d in deployments], cell=cell).pivot(
            index="model", columns="column", values="cell"
        )
        wide = wide[ordered_labels(deployments)]
        peaks = group.groupby("model")["peak_gflop_per_s"].first()
        wide.insert(0, "peak GFLOP/s", peaks.round(0))
        wide.insert(0, "GFLOP", group.groupby("model")["model_gflop"].first().round(2))
        parts.append(
            f"### {run} · {device}, batch {batch}: efficiency, GFLOP/s (fraction of the float32 matmul peak)\n\n"
            f"{wide.fillna('—').to_markdown()}\n"
        )
    return "\n".join(parts)
