"""The statistics of a comparison record: per deployment the pooled latencies of its kept
blocks, per pair the paired ratio over the undisturbed rounds of the group that measured it.

Torch-free.
"""

from __future__ import annotations

import numpy as np

from tvdeploy.measure.bench import summarize_rounds
from tvdeploy.measure.paired import paired_ratio
from tvdeploy.registry import Deployment


def summarize_comparison(
    results: dict,
    pairs: list[dict],
    batch_size: int,
    confidence: float,
    resolution: float,
    admission: dict | None = None,
) -> tuple[dict, list[dict]]:
    """Per deployment: the pooled per-iteration statistics and the per-round medians of its kept
    blocks (disturbed ones left out, counted); per pair: the paired ratio over the undisturbed
    rounds of the group that measured it (see tvdeploy.measure.paired), or why it has none."""
    admission = admission or {}
    # Without an admission record every deployment was one group (run_interleaved).
    groups = admission.get("groups") or [{}]
    measured_in = {}
    refused = {}
    for index, group in enumerate(admission.get("groups", [])):
        if not group.get("given_up"):
            for cand, ref in group["pairs"]:
                measured_in[(cand, ref)] = index
    for row in admission.get("refused_pairs", []):
        refused[(row["candidate"], row["reference"])] = row
    deployments, medians, measured = {}, {}, {}
    for name, result in results.items():
        entry = result.as_dict()
        kept = [b for b in result.blocks if not b.get("disturbed")]
        if kept:
            # One kept block per round, in order: the protocol's pooled summary and per-round
            # medians and spread, plus how many blocks stayed noisy or were disturbed.
            summary = summarize_rounds(kept, batch_size)
            summary["noisy_blocks"] = sum(b["noisy"] for b in kept)
            summary["disturbed_blocks"] = len(result.blocks) - len(kept)
            entry["summary"] = summary
        medians[name] = {(b.get("group", 0), b["round"]): float(np.median(b["latencies_ms"])) for b in kept}
        measured[name] = {(b.get("group", 0), b["round"]) for b in result.blocks}
        deployments[name] = entry

    comparisons = []
    for pair in pairs:
        cand, ref = Deployment(*pair["candidate"]).key, Deployment(*pair["reference"]).key
        row = {"kind": pair["kind"], "candidate": cand, "reference": ref}
        group = measured_in.get((cand, ref), 0)
        common = sorted(k for k in set(medians[cand]) & set(medians[ref]) if k[0] == group)
        if (cand, ref) in refused:
            row.update(
                {
                    "rounds": 0,
                    "verdict": None,
                    **{k: refused[(cand, ref)][k] for k in ("error", "error_class", "needs_mb")},
                }
            )
        elif common:
            estimate = paired_ratio(
                [medians[cand][k] for k in common], [medians[ref][k] for k in common], confidence, resolution
            )
            row.update(estimate.as_dict())
            row["group"] = group
            row["stop_reason"] = groups[group].get("stop_reason")
        elif any(k[0] == group for k in measured[cand] & measured[ref]):
            # Measured together, but in no round were both blocks undisturbed: no ratio to trust.
            shared = sum(k[0] == group for k in measured[cand] & measured[ref])
            error = f"no undisturbed round in common: each of the {shared} shared rounds had a disturbed block"
            row.update({"rounds": 0, "verdict": None, "error": error})
        else:
            row.update({"rounds": 0, "verdict": None, "error": deployments[cand]["error"] or deployments[ref]["error"]})
        comparisons.append(row)
    return deployments, comparisons
