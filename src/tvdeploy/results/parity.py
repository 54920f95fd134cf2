"""The parity table: one row per deployment of a model on a device, from its parity checks on the
real inputs (tvdeploy.tasks: compare_predictions), every task's metric side by side, with its
verdict. Torch-free."""

from __future__ import annotations

import pandas as pd

# A parity row's identity (tvdeploy.tasks: compare_predictions); its other fields are the task's metric.
PARITY_KEYS = ("run", "model", "device", "runtime", "variant", "reference", "image")
# The verdict of one deployment's parity: a miss on any image is a miss; else it agrees where at
# least one image's outputs could discriminate, and is not checked where none could (a one-class
# reference mask, a constant logits row: any output would have "agreed"), which is never a pass.
PARITY_AGREES = "agrees"
PARITY_DIFFERS = "differs"
PARITY_NOT_CHECKED = "not checked (outputs cannot discriminate)"
# Per deployment, from its images' rows: (column, the rows' field, how), every task's fields side
# by side (NaN where a task does not measure one: segmentation records keep no logits).
PARITY_AGGREGATES = (
    ("max_abs_diff", "max_abs_diff", "max"),
    ("tolerance", "tolerance", "min"),
    ("logits_max_abs", "logits_max_abs", "max"),
    ("relative_diff", "relative_diff", "max"),
    # A reduced-precision deployment's agreement with float32: the share of images whose top-1
    # class is the reference's, and the worst image's share of the reference's top-5 classes.
    ("top1_agreement", "top1_match", "mean"),
    ("top5_overlap", "top5_overlap", "min"),
    ("top5_match", "top5_match", "all"),
    ("argmax_agreement", "argmax_agreement", "min"),
    ("max_fraction_diff", "max_fraction_diff", "max"),
    # Optical flow: end-point errors (px; lower is better), the worst pair's.
    ("mean_epe", "mean_epe", "max"),
    ("max_epe", "max_epe", "max"),
    # Detection: the worst image's share of detections matched, smallest matched box (and mask)
    # IoU, largest matched score difference, share of keypoints within KEYPOINT_PX.
    ("matched_fraction", "matched_fraction", "min"),
    ("min_matched_iou", "min_matched_iou", "min"),
    ("max_score_diff", "max_score_diff", "max"),
    ("min_mask_iou", "min_mask_iou", "min"),
    ("keypoints_within_px", "keypoints_within_px", "min"),
    # Detection: the worst image's median matched IoU, and how far eager's own detections moved
    # at another thread count (the images where they moved beyond tolerance discriminate only a
    # gross difference: tvdeploy.tasks.detection_matching.judged_with_threads_floor).
    ("median_matched_iou", "median_matched_iou", "min"),
    ("images_moving_with_threads", "moves_with_threads", "sum"),
    ("eager_threads_min_matched_iou", "eager_threads_min_matched_iou", "min"),
    ("eager_threads_max_score_diff", "eager_threads_max_score_diff", "max"),
    # Detection: the images judged against eager's detections at the scripted resize, where eager
    # resizes one pixel otherwise (tvdeploy.tasks.detection.RESIZE_UPSTREAM).
    ("images_at_scripted_resize", "at_scripted_resize", "sum"),
)
PARITY_COLUMNS = [
    *PARITY_KEYS[:2],
    "weights_source",
    *PARITY_KEYS[2:6],
    "images",
    "images_checked",
    *(column for column, _, _ in PARITY_AGGREGATES),
    "within_tolerance",
    "verdict",
]


def metric_fields(row: dict) -> dict:
    """A parity row's metric: every field but its identity."""
    return {k: v for k, v in row.items() if k not in PARITY_KEYS}


def parity_verdict(within_tolerance: bool, images_checked: int) -> str:
    if not within_tolerance:
        return PARITY_DIFFERS
    return PARITY_AGREES if images_checked > 0 else PARITY_NOT_CHECKED


def passes_parity(verdict) -> bool:
    """Only an ``agrees`` verdict is a pass (not checked is not)."""
    return verdict == PARITY_AGREES


def _all_present(values: pd.Series):
    """``all`` over the rows that have the field; None where none has it."""
    present = values.dropna()
    return bool(present.astype(bool).all()) if not present.empty else None


def _sum_present(values: pd.Series):
    """The sum over the rows that have the field; None where none has it."""
    present = values.dropna()
    return int(present.sum()) if not present.empty else None


def _mean_present(values: pd.Series):
    """The mean over the rows that have the field (a share, for booleans); None where none has it."""
    present = values.dropna()
    return float(present.astype(float).mean()) if not present.empty else None


def parity_table(parity_records: list[dict], weights_source: dict[str, str]) -> pd.DataFrame:
    """One row per model × device × runtime × variant, whatever its task: the images compared,
    how many of them could discriminate (a row without ``discriminates`` could: records from
    before the key), the worst image of each metric field, whether every image was within
    tolerance, and the verdict (parity_verdict)."""
    keys = list(PARITY_KEYS[:6])
    rows = pd.DataFrame([{"run": rec["run"], **c} for rec in parity_records for c in rec["comparisons"]])
    if rows.empty:  # a single runtime has nothing to be compared with
        return pd.DataFrame(columns=PARITY_COLUMNS)
    fields = list(dict.fromkeys(field for _, field, _ in PARITY_AGGREGATES))
    rows = rows.reindex(columns=[*rows.columns, *(f for f in fields if f not in rows.columns)])
    checked = rows["discriminates"] if "discriminates" in rows else pd.Series(True, index=rows.index)
    rows = rows.assign(
        _checked=checked.fillna(True).astype(bool), within_tolerance=rows["within_tolerance"].astype(bool)
    )
    how = {"all": _all_present, "min": "min", "max": "max", "sum": _sum_present, "mean": _mean_present}
    table = (
        rows.groupby(keys, sort=True)
        .agg(
            images=("image", "count"),
            images_checked=("_checked", "sum"),
            **{column: (field, how[agg]) for column, field, agg in PARITY_AGGREGATES},
            within_tolerance=("within_tolerance", "all"),
        )
        .reset_index()
    )
    table["verdict"] = [
        parity_verdict(ok, n) for ok, n in zip(table["within_tolerance"], table["images_checked"], strict=True)
    ]
    sources = [
        weights_source.get((run, model), weights_source.get(model))
        for run, model in zip(table["run"], table["model"], strict=True)
    ]
    table.insert(2, "weights_source", sources)
    return table[PARITY_COLUMNS]
