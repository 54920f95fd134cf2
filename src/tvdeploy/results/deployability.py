"""Deployability: whether each model × deployment that was to run deployed (with parity), missed
parity, failed (with its failure class), or was not run, from the predictions, the parity table
and the benchmark's errors; as a table, a model × deployment matrix, and Markdown."""

from __future__ import annotations

import pandas as pd

from tvdeploy.registry import RUNTIMES, Deployment, column_label
from tvdeploy.registry.failures import RUN_ERROR, classify_text, upstream_issues
from tvdeploy.results.formatting import run_title
from tvdeploy.results.frames import DEPLOYMENT_KEYS, RUNTIME_ORDER
from tvdeploy.results.parity import PARITY_DIFFERS, PARITY_NOT_CHECKED

# The states of one model × deployment, in the order figures and documents list them.
DEPLOYED = "ok"
# Ran, but its outputs could not discriminate a right runtime from a wrong one (random weights'
# one-class masks, constant logits): not a pass, not a miss.
PARITY_UNCHECKED = "parity not checked"
PARITY_FAILED = "parity failed"
FAILED = "failed"
NOT_RUN = "not run"
DEPLOYABILITY_STATES = (DEPLOYED, PARITY_UNCHECKED, PARITY_FAILED, FAILED, NOT_RUN)
# ``upstream``: the upstream issues a failure is known to be (registry UPSTREAM_ISSUES), read from
# its error, so a record written before an issue was registered names it too.
DEPLOYABILITY_COLUMNS = [*DEPLOYMENT_KEYS, "status", "error_class", "detail", "upstream"]


def _upstream(key: tuple, state: dict) -> str | None:
    """The upstream issues a failed deployment is known to be, comma-separated (None: none known)."""
    if state["status"] != FAILED:
        return None
    _, _, model, runtime, _ = key
    known = upstream_issues(str(state["detail"]), RUNTIMES[runtime].artifact if runtime in RUNTIMES else None, model)
    return ", ".join(dict.fromkeys(known)) or None


def deployability_table(predictions: list[dict], parity: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """One row per run, device, model and deployment that was to run: deployed with parity, parity
    failed (by how much: the worst image's |Δlogit| in tolerances and relative to the logits'
    scale), or failed with its class (the build's, the inference's, or the benchmark's)."""
    rows = {}
    for pred in predictions:
        key = (pred["run"], pred["device"], pred["model"], pred["runtime"], pred["variant"])
        if pred.get("error"):
            rows[key] = {"status": FAILED, "error_class": pred.get("error_class") or RUN_ERROR, "detail": pred["error"]}
        else:
            rows[key] = {"status": DEPLOYED, "error_class": None, "detail": None}
    for _, check in parity.iterrows():
        key = (check["run"], check["device"], check["model"], check["runtime"], check["variant"])
        if key not in rows or rows[key]["status"] != DEPLOYED:
            continue
        if check["verdict"] == PARITY_DIFFERS:
            rows[key] = {"status": PARITY_FAILED, "error_class": "parity", "detail": parity_detail(check)}
        elif check["verdict"] == PARITY_NOT_CHECKED:
            rows[key] = {"status": PARITY_UNCHECKED, "error_class": None, "detail": parity_detail(check)}
    _inherit_reference_parity(rows, parity)
    failed_runs = latency[latency["error"].notna() & (latency["error"] != "")] if "error" in latency else latency[:0]
    for _, row in failed_runs.iterrows():
        key = (row["run"], row["device"], row["model"], row["runtime"], row["variant"])
        if rows.get(key, {}).get("status") in (None, DEPLOYED, PARITY_FAILED):
            rows[key] = {
                "status": FAILED,
                "error_class": f"benchmark: {classify_text(row['error'], RUN_ERROR)}",
                "detail": f"batch {row['batch_size']}: {row['error']}",
            }
    table = pd.DataFrame(
        [
            dict(zip(DEPLOYMENT_KEYS, key, strict=True)) | state | {"upstream": _upstream(key, state)}
            for key, state in rows.items()
        ],
        columns=DEPLOYABILITY_COLUMNS,
    )
    order = {name: i for i, name in enumerate(RUNTIME_ORDER)}
    return (
        table.assign(_order=table["runtime"].map(order))
        .sort_values(["run", "device", "model", "_order", "variant"])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _reference_key(check) -> tuple:
    """The row key of the deployment a parity row was checked against."""
    reference = Deployment.from_name(str(check["reference"]))
    return (check["run"], check["device"], check["model"], reference.runtime, reference.variant)


def _inherit_reference_parity(rows: dict, parity: pd.DataFrame) -> None:
    """A deployment checked against another deployment (C++ against the Python runtime that loads
    the same file) and found equal to it inherits that one's miss: reproducing a wrong answer is
    no pass (seen: TorchScript's fused variant wrong in Python and, identically, in C++). Repeated
    until nothing changes, so a chain of references passes the miss along."""
    inheriting = {DEPLOYED: (PARITY_FAILED, PARITY_UNCHECKED), PARITY_UNCHECKED: (PARITY_FAILED,)}
    changed = True
    while changed:
        changed = False
        for _, check in parity.iterrows():
            key = (check["run"], check["device"], check["model"], check["runtime"], check["variant"])
            reference = rows.get(_reference_key(check))
            if key not in rows or reference is None:
                continue
            if reference["status"] in inheriting.get(rows[key]["status"], ()):
                rows[key] = {
                    "status": reference["status"],
                    "error_class": reference["error_class"],
                    "detail": f"as its reference {check['reference']} ({reference['detail']})",
                }
                changed = True


def _present(check, field: str) -> bool:
    return field in check and pd.notna(check[field])


def parity_detail(check) -> str:
    """A parity table row in words, from whichever metric fields its task measures."""
    parts = []
    if _present(check, "max_abs_diff") and _present(check, "tolerance"):
        relative = check["max_abs_diff"] / check["logits_max_abs"] if check.get("logits_max_abs") else float("inf")
        parts.append(
            f"max |Δ| {check['max_abs_diff'] / check['tolerance']:.3g}× tolerance ({relative:.2g} of the logits' scale)"
        )
    if _present(check, "top5_match"):
        parts.append(f"top-5 {'equal' if check['top5_match'] else 'differ'}")
    if _present(check, "argmax_agreement"):
        parts.append(f"argmax agreement {check['argmax_agreement']:.2%}")
    if _present(check, "max_epe") and _present(check, "tolerance"):
        parts.append(
            f"max end-point error {check['max_epe']:.3g} px (mean {check['mean_epe']:.3g}), "
            f"{check['max_epe'] / check['tolerance']:.3g}× tolerance"
        )
    if _present(check, "matched_fraction"):
        iou = f"{check['min_matched_iou']:.4f}" if _present(check, "min_matched_iou") else "-"
        parts.append(f"detections matched {check['matched_fraction']:.1%}, smallest matched IoU {iou}")
        if _present(check, "max_score_diff") and _present(check, "tolerance"):
            parts.append(f"max score |Δ| {check['max_score_diff'] / check['tolerance']:.3g}× tolerance")
        if _present(check, "min_mask_iou"):
            parts.append(f"smallest mask IoU {check['min_mask_iou']:.4f}")
        if _present(check, "keypoints_within_px"):
            parts.append(f"keypoints within 1 px {check['keypoints_within_px']:.1%}")
        if _present(check, "images_at_scripted_resize") and check["images_at_scripted_resize"]:
            parts.append(
                f"{int(check['images_at_scripted_resize'])} image(s) judged at the scripted resize "
                "(one pixel off eager's, pytorch#58234)"
            )
        if _present(check, "images_moving_with_threads") and check["images_moving_with_threads"]:
            parts.append(
                f"{int(check['images_moving_with_threads'])} image(s) where eager's own detections at another "
                "thread count moved beyond tolerance (smallest matched IoU "
                f"{check['eager_threads_min_matched_iou']:.4f}, max score |Δ| "
                f"{check['eager_threads_max_score_diff'] / check['tolerance']:.3g}× tolerance) "
                "judge a gross difference only"
            )
    checked = f"{int(check['images_checked'])} of {int(check['images'])} images could discriminate"
    return f"vs {check['reference']}: " + ", ".join([*parts, checked])


def deployability_wide(
    table: pd.DataFrame, run: str, device: str, values: str = "status", missing: str = NOT_RUN
) -> pd.DataFrame:
    """Model × deployment ``values`` (the states) of one run and device, ``missing`` where nothing
    was planned."""
    rows = table[(table["run"] == run) & (table["device"] == device)]
    labels = [column_label(r, v) for r, v in zip(rows["runtime"], rows["variant"], strict=True)]
    wide = rows.assign(deployment=labels).pivot_table(
        index="model", columns="deployment", values=values, aggfunc="first"
    )
    return wide.reindex(columns=list(dict.fromkeys(labels))).fillna(missing)


def deployability_markdown(table: pd.DataFrame) -> str:
    """Per run and device: the matrix (✓ deployed with parity, ≠ parity failed, ✗ failed with
    its class), the count per deployment, then every failure and parity miss with its detail."""
    mark = {DEPLOYED: "✓", PARITY_UNCHECKED: "? parity", PARITY_FAILED: "≠ parity", NOT_RUN: "·"}
    parts = []
    for (run, device), rows in table.groupby(["run", "device"], sort=True):
        labels = [column_label(r, v) for r, v in zip(rows["runtime"], rows["variant"], strict=True)]
        cells = rows.assign(
            deployment=labels,
            cell=[mark.get(s, f"✗ {c}") for s, c in zip(rows["status"], rows["error_class"], strict=True)],
        )
        wide = deployability_wide(cells, run, device, values="cell", missing=mark[NOT_RUN])
        counts = cells.pivot_table(index="status", columns="deployment", values="model", aggfunc="count")
        counts = counts.reindex(index=[s for s in DEPLOYABILITY_STATES if s in counts.index], columns=wide.columns)
        parts.append(f"### Deployability — {run_title(run, device)}\n")
        parts.append(
            "✓ deployed, parity within tolerance · ? deployed, parity not checked (its outputs cannot "
            "discriminate: not a pass) · ≠ parity beyond tolerance · ✗ failed, with its class · · not run\n\n"
            + counts.fillna(0).astype(int).to_markdown()
            + "\n\n"
            + wide.to_markdown()
            + "\n"
        )
        problems = rows[rows["status"] != DEPLOYED]
        if not problems.empty:
            parts.append(
                "#### Failures, parity misses and unchecked parity\n\n"
                + problems[["model", "runtime", "variant", "status", "error_class", "detail"]].to_markdown(index=False)
                + "\n"
            )
    return "\n".join(parts)
