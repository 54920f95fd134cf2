"""How far each deployment is from the machine's limit: the model's arithmetic per second,
against the matmul peak of the deployment's own precision measured in the same comparison job
(tvdeploy.measure.peak): float32 deployments against the float32 peak, bf16 against bfloat16's
(none where the CPU lacks native bfloat16: a float32 yardstick would flatter or slander it).

torchvision's weights metadata (``_ops``, the catalog's ``gflops``) counts multiply-accumulates:
resnet50 4.09 G, where ``torch.utils.flop_counter`` counts 8.18 GFLOP. The peak counts a
multiply-add as two operations, so the model's count is doubled to match.

A deployment can still outrun the measured peak: convolution algorithms such as Winograd do
fewer operations than the model's nominal count, GPU convolutions may use TF32, and the probe's
few shapes may miss the kernels' best. Such a row is flagged (``above_peak``) and its fraction
kept as measured, not clipped: above 1 it says by how much the deployment beats the yardstick
(no efficiency: the peak is not its ceiling), which a clip to 100 % would hide, and the compute
floor of tvdeploy.results.goals (latency over FLOP / peak) stays the measured ratio. The CPU's
theoretical FMA peak stands beside it. Old records (their peak only ``gflop_per_s``) give
float32 rows their fraction and reduced precisions none. Torch-free."""

from __future__ import annotations

import math

import pandas as pd

from tvdeploy.measure.peak import FLOP_PER_MULTIPLY_ADD
from tvdeploy.registry import VARIANTS, deployments_of, ordered_labels
from tvdeploy.registry.precisions import FLOAT32, INT8

EFFICIENCY_COLUMNS = [
    "model_gflop",
    "gflop_per_s",
    "precision",
    "peak_gflop_per_s",
    "peak_fraction",
    "above_peak",
    "theoretical_gflop_per_s",
]
ABOVE_PEAK_MARK = "↑"


def precision_of(variant: str, quantized: bool = False) -> str:
    """The precision a deployment computes in: an eager-quantized model's is int8 whatever its
    variant, another model's its variant's."""
    if quantized:
        return INT8
    return VARIANTS[variant].precision if variant in VARIANTS else FLOAT32


def peak_of(peak: dict | float | None, precision: str) -> float | None:
    """The measured peak (GOP/s) of ``precision`` in a comparison's peak record: a new record's
    ``precisions`` entry, an old record's ``gflop_per_s`` (float32 only), or a bare float32 number."""
    if isinstance(peak, int | float):
        return float(peak) if precision == FLOAT32 else None
    if not peak:
        return None
    if "precisions" not in peak:
        return peak.get("gflop_per_s") if precision == FLOAT32 else None
    return (peak["precisions"].get(precision) or {}).get("gop_per_s")


def theoretical_of(peak: dict | float | None) -> float | None:
    """The theoretical float32 FMA peak of a record that has one."""
    return ((peak.get("theoretical") or {}).get("gflop_per_s") if isinstance(peak, dict) else None) or None


def efficiency(
    gmacs: float | None,
    batch_size: int,
    median_ms: float | None,
    peak: dict | float | None,
    variant: str = "plain",
    quantized: bool = False,
) -> dict:
    """The efficiency columns of one latency row; NaN where a number is missing. ``peak``: the
    comparison's peak record (or, as older callers pass, its float32 GFLOP/s); ``quantized``: an
    eager-quantized model, judged against the int8 peak."""
    nan = float("nan")
    precision = precision_of(variant, quantized)
    model_gflop = FLOP_PER_MULTIPLY_ADD * gmacs * batch_size if gmacs is not None and not math.isnan(gmacs) else nan
    rate = model_gflop / (median_ms / 1000) if median_ms and not math.isnan(model_gflop) else nan
    measured = peak_of(peak, precision)
    measured = float(measured) if measured else nan
    theoretical = theoretical_of(peak) if precision == FLOAT32 else None
    above = bool(rate > measured)  # False where either is NaN
    return {
        "model_gflop": model_gflop,
        "gflop_per_s": rate,
        "precision": precision,
        "peak_gflop_per_s": measured,
        "peak_fraction": rate / measured,  # NaN where either is unknown; above 1 only with above_peak
        "above_peak": above,
        "theoretical_gflop_per_s": float(theoretical) if theoretical else nan,
    }


def efficiency_cell(rate: float, fraction: float, above: bool) -> str:
    if math.isnan(fraction):
        return f"{rate:.0f}"
    return f"{rate:.0f} ({fraction:.0%}{' ' + ABOVE_PEAK_MARK if above else ''})"


def efficiency_markdown(table: pd.DataFrame) -> str:
    """Per run, device and batch size: model rows, one column per deployment with its GFLOP/s
    and, in parentheses, the fraction of its precision's measured peak; beside them the peak of
    each precision used and the theoretical float32 FMA peak."""
    measured = table[table["gflop_per_s"].notna()]
    # Tables of older code lack the precision columns: everything was float32, and a fraction
    # above 1 is flagged all the same.
    if "precision" not in measured:
        measured = measured.assign(precision=FLOAT32)
    if "above_peak" not in measured:
        measured = measured.assign(above_peak=measured["peak_fraction"] > 1)
    parts = []
    for (run, device, batch), group in measured.groupby(["run", "device", "batch_size"], sort=True):
        above = group["above_peak"].fillna(False).astype(bool)
        cell = [
            efficiency_cell(rate, fraction, flag)
            for rate, fraction, flag in zip(group["gflop_per_s"], group["peak_fraction"], above, strict=True)
        ]
        deployments = deployments_of(group)
        wide = group.assign(column=[d.label for d in deployments], cell=cell).pivot(
            index="model", columns="column", values="cell"
        )
        wide = wide[ordered_labels(deployments)]
        if "theoretical_gflop_per_s" in group and group["theoretical_gflop_per_s"].notna().any():
            wide.insert(0, "float32 FMA peak", group.groupby("model")["theoretical_gflop_per_s"].first().round(0))
        for precision in sorted(group["precision"].unique(), key=lambda p: (p != FLOAT32, p), reverse=True):
            peaks = group[group["precision"] == precision].groupby("model")["peak_gflop_per_s"].first()
            wide.insert(0, f"{precision} peak GOP/s", peaks.reindex(wide.index).round(0))
        wide.insert(0, "GFLOP", group.groupby("model")["model_gflop"].first().round(2))
        note = (
            f"\n{ABOVE_PEAK_MARK}: faster than its precision's measured peak, so that peak is not its ceiling "
            "(fewer operations than the nominal count, e.g. Winograd, or kernels the probe's shapes miss): "
            "the percentage says by how much it beats the yardstick, not an efficiency.\n"
            if above.any()
            else ""
        )
        parts.append(
            f"### {run} · {device}, batch {batch}: efficiency, GFLOP/s (fraction of its precision's matmul peak)\n\n"
            f"{wide.fillna('—').to_markdown()}\n{note}"
        )
    return "\n".join(parts)
