"""How closely an eager-quantized classifier follows the float model it was made from: for each
deployment of the quantized model, its top-1 agreement and top-5 overlap with the float model's
eager predictions on the same inputs (each preprocessed by its own model's preset), per run and
device. Reported, not judged: int8 is expected to move some predictions, and parity (each
deployment against the quantized model's own eager module) is what judges a deployment.

The numbers mean something only when both models ran pretrained weights and the float model ran
the very weights the quantized ones were made from (their meta "unquantized"; the mobilenets were
made from V1 weights while the float models' DEFAULT is V2). Random weights are independent draws
for the two models: such rows keep their numbers and say why they are not comparable.
"""

from __future__ import annotations

import pandas as pd

from tvdeploy.registry import EAGER, PLAIN, deployments_of
from tvdeploy.results.accuracy import PRETRAINED, TOP5
from tvdeploy.results.frames import DEPLOYMENT_KEYS

FLOAT_AGREEMENT_COLUMNS = [
    *DEPLOYMENT_KEYS,
    "float_model",
    "images",
    "top1_agreement",
    "top5_overlap",
    "comparable",
    "note",
]
RANDOM_WEIGHTS = "random weights: the quantized and the float model's weights are independent draws"
NO_FLOAT_PREDICTIONS = "no eager predictions of the float model on this device in this run"


def other_weights_note(float_model: str, float_weights: str, made_from: str) -> str:
    return f"{float_model} ran {float_weights}; the quantized weights were made from {made_from}"


def _top_classes(ranked: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per ``keys`` and image, the classes ranked 1 to TOP5 in rank order."""
    kept = ranked[ranked["rank"] <= TOP5].sort_values("rank")
    return kept.groupby([*keys, "image"], sort=False)["class_index"].agg(lambda c: [int(x) for x in c])


def _overlap(quantized: list[int], floating: list[int]) -> float:
    """The share of the float model's top five among the quantized model's (NaN below five kept)."""
    if min(len(quantized), len(floating)) < TOP5:
        return float("nan")
    return len(set(quantized) & set(floating)) / TOP5


def float_agreement_table(predictions: pd.DataFrame, counterparts: dict[str, dict]) -> pd.DataFrame:
    """One row per run, device, eager-quantized model of ``counterparts`` and deployment that
    predicted classes: its float model, the inputs both predicted, the share of them whose top
    class agrees, the mean top-5 overlap (NaN where fewer than five classes were kept: config
    topk), whether the figures are comparable and, where not, why. ``counterparts``: by quantized
    model, ``float_model``, ``made_from`` (the weights the quantized ones were made from) and
    ``float_weights`` (those the float model ran: the sheet's)."""
    if predictions.empty or "class_index" not in predictions.columns:
        return pd.DataFrame(columns=FLOAT_AGREEMENT_COLUMNS)
    ranked = predictions[predictions["class_index"].notna()]
    quantized = ranked[ranked["model"].isin(counterparts)]
    if quantized.empty:
        return pd.DataFrame(columns=FLOAT_AGREEMENT_COLUMNS)
    reference = ranked[(ranked["runtime"] == EAGER) & (ranked["variant"] == PLAIN)]
    float_top = _top_classes(reference, ["run", "device", "model"]).sort_index()
    float_source = reference.groupby(["run", "device", "model"])["weights_source"].first()
    rows = []
    for (run, device, model, runtime, variant), group in quantized.groupby(DEPLOYMENT_KEYS, sort=True):
        pair = counterparts[model]
        float_model = pair["float_model"]
        own = _top_classes(group, DEPLOYMENT_KEYS).droplevel(DEPLOYMENT_KEYS)
        key = (run, device, float_model)
        floating = float_top.xs(key) if key in float_source.index else pd.Series(dtype=object)
        images = sorted(set(own.index) & set(floating.index))
        top1 = [own[i][0] == floating[i][0] for i in images]
        overlaps = [_overlap(own[i], floating[i]) for i in images]
        sources = {group["weights_source"].iloc[0], float_source.get((run, device, float_model))}
        if not images:
            note = NO_FLOAT_PREDICTIONS
        elif sources != {PRETRAINED}:
            note = RANDOM_WEIGHTS
        elif pair["made_from"] != pair["float_weights"]:
            note = other_weights_note(float_model, pair["float_weights"], pair["made_from"])
        else:
            note = ""
        rows.append(
            {
                "run": run,
                "device": device,
                "model": model,
                "runtime": runtime,
                "variant": variant,
                "float_model": float_model,
                "images": len(images),
                "top1_agreement": sum(top1) / len(images) if images else float("nan"),
                "top5_overlap": pd.Series(overlaps, dtype=float).mean() if images else float("nan"),
                "comparable": not note,
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=FLOAT_AGREEMENT_COLUMNS)


def float_agreement_markdown(table: pd.DataFrame) -> str:
    """Per run and device, a quantized model × deployment table of top-1 agreement / top-5
    overlap with the float model, where both ran pretrained weights (a † where the float model ran
    other weights than the quantized ones were made from); the rows that cannot compare, and why."""
    if table.empty:
        return ""
    # Read back from the csv, a comparable row's empty note is NaN.
    table = table.assign(note=table["note"].astype(object).fillna(""), comparable=table["comparable"].astype(bool))
    parts = [
        "**Quantized models against their float models** (top-1 agreement, % / mean top-5 overlap with the "
        "float model's eager predictions on the same inputs; reported, not judged: parity against the "
        "quantized model's own eager module judges a deployment):\n"
    ]
    # Random or missing predictions give no numbers; another float checkpoint gives them with a †.
    shown = table[~table["note"].isin([RANDOM_WEIGHTS, NO_FLOAT_PREDICTIONS])]
    for (run, device), group in shown.groupby(["run", "device"], sort=True):
        cells = [
            f"{r.top1_agreement:.1%} / " + ("-" if pd.isna(r.top5_overlap) else f"{r.top5_overlap:.2f}")
            + ("" if r.comparable else " †")
            for r in group.itertuples()
        ]  # fmt: skip
        labels = [d.label for d in deployments_of(group)]
        wide = group.assign(cell=cells, deployment=labels).pivot(index="model", columns="deployment", values="cell")
        wide = wide[list(dict.fromkeys(labels))]
        firsts = group.groupby("model")[["float_model", "images"]].first()
        wide.insert(0, "images", firsts["images"])
        wide.insert(0, "float model", firsts["float_model"])
        parts.append(f"{run} · {device}:\n\n{wide.fillna('-').to_markdown()}\n")
    other = shown[~shown["comparable"]].drop_duplicates(["model", "note"])
    if not other.empty:
        parts.append("† " + "; ".join(f"{r.model}: {r.note}" for r in other.itertuples()) + ".\n")
    unshown = table[~table.index.isin(shown.index)]
    for (run, device, note), group in unshown.groupby(["run", "device", "note"], sort=True):
        models = ", ".join(f"{m} ({f})" for m, f in sorted(set(zip(group["model"], group["float_model"], strict=True))))
        parts.append(f"Not comparable ({note}) on {run} · {device}: {models}.\n")
    return "\n".join(parts)
