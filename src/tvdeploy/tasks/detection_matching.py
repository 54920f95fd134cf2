"""Parity of two runtimes' detections (tvdeploy.tasks.detection's compare_outputs): matched by
IoU among equal labels with a Hungarian assignment, not position by position, since non-maximum
suppression may order near-tied detections differently; then the share matched, the matched
boxes' IoU, the matched scores' difference, and the matched masks' IoU or keypoints' distances.
An empty reference, or one whose scores are all alike, proves nothing and is never a pass; nor
does an image whose detections move as much when eager runs at another thread count: it can only
tell a grossly wrong runtime (judged_with_threads_floor)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

# Detections of two runtimes are candidates for a match from this IoU on (the COCO convention).
MATCH_IOU = 0.5
# Parity of matched detections: the share of detections matched (the larger count is the
# denominator: near-tied detections at the per-image cap may drop out on one side), the IoU every
# matched pair reaches, and the share of matched keypoints within KEYPOINT_PX of each other.
MIN_MATCHED_FRACTION = 0.98
MIN_MATCHED_IOU = 0.99
KEYPOINT_PX = 1.0
MIN_KEYPOINTS_WITHIN = 0.98
# Matching widens a box narrower or lower than this about its centre to it: two identical
# zero-area boxes (random-weight regression heads return such) have no IoU (0 / 0) and would never
# match, and a sub-pixel extent says nothing about where a detection is.
MIN_BOX_SIDE_PX = 1.0
# The prefix of an eager prediction entry's fields holding its detections at another thread count
# (boxes, labels, scores, keypoints; its masks are not stored twice).
OTHER_THREADS = "other_threads_"
# An image discriminates at the tolerances above only where eager's own detections at another
# thread count stay within this share of them (every detection matched, the IoU's shortfall from 1
# and the score difference at most a tenth of theirs): that rerun is one sample of how far the
# order of float additions moves the outputs, and another runtime reorders more (the 800-px
# mobilenet Faster R-CNN on chelsea_cat: eager at 2 threads kept IoU 0.9948, ONNX Runtime, OpenVINO
# and torch.compile 0.974-0.981, with every detection matched).
STAYS_PUT_SHARE = 0.1
# Where it does not stay put, a gross difference keeps fewer than this share of the matched share
# eager's rerun keeps: wrong boxes, labels or scale match almost none, while that Faster R-CNN kept
# 69 % of its detections on coffee_cup at 2 threads, and the three runtimes 51-54 % of eager's.
GROSS_MATCHED_SHARE = 0.5
# A soft mask's foreground, as torchvision's own post-processing and drawing use it.
MASK_THRESHOLD = 0.5


@dataclass(frozen=True)
class Detections:
    """One image's detections: [K, 4] xyxy boxes, [K] labels and scores, and optionally [K, 1, H, W]
    soft masks or [K, 17, 3] keypoints with [K, 17] scores."""

    boxes: torch.Tensor
    labels: torch.Tensor
    scores: torch.Tensor
    masks: torch.Tensor | None = None
    keypoints: torch.Tensor | None = None
    keypoints_scores: torch.Tensor | None = None

    @property
    def count(self) -> int:
        return int(self.boxes.shape[0])


def _with_min_side(boxes: torch.Tensor) -> torch.Tensor:
    """[K, 4] xyxy boxes, each side at least MIN_BOX_SIDE_PX (a narrower side widened about its centre)."""
    low, high = boxes[:, :2], boxes[:, 2:]
    short = (high - low) < MIN_BOX_SIDE_PX
    centre = (low + high) / 2
    return torch.cat(
        [torch.where(short, centre - MIN_BOX_SIDE_PX / 2, low), torch.where(short, centre + MIN_BOX_SIDE_PX / 2, high)],
        dim=1,
    )


def match(reference: Detections, candidate: Detections) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The one-to-one pairs (reference index, candidate index, IoU) of detections with equal labels
    and IoU >= MATCH_IOU that maximise the summed IoU (Hungarian assignment: NMS may order
    near-tied detections differently, so positions say nothing); the IoU of boxes at least
    MIN_BOX_SIDE_PX on each side."""
    empty = torch.zeros(0, dtype=torch.long)
    if reference.count == 0 or candidate.count == 0:
        return empty, empty, torch.zeros(0, dtype=torch.float64)
    iou = box_iou(_with_min_side(reference.boxes.double()), _with_min_side(candidate.boxes.double()))
    allowed = (reference.labels[:, None] == candidate.labels[None, :]) & (iou >= MATCH_IOU)
    # Disallowed pairs cost more than any allowed one, and are dropped after the assignment.
    cost = torch.where(allowed, -iou, torch.ones_like(iou))
    rows, cols = linear_sum_assignment(cost.numpy())
    rows, cols = torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long)
    keep = allowed[rows, cols]
    rows, cols = rows[keep], cols[keep]
    return rows, cols, iou[rows, cols]


def scores_tied(detections: Detections) -> bool:
    """Whether every detection has the same score: then which ones NMS and the per-image cap keep is
    arbitrary, and two right runtimes may keep different ones (a random-weight detector whose
    backbone activations vanish scores every box alike)."""
    return detections.count > 1 and bool((detections.scores == detections.scores[0]).all())


def _mask_ious(reference: torch.Tensor, candidate: torch.Tensor, tolerance: float) -> torch.Tensor:
    """The IoU of each pair of [M, 1, H, W] soft masks, thresholded at MASK_THRESHOLD, over the
    pixels whose reference value is farther than ``tolerance`` from it: one within may flip between
    two right runtimes (a random-weight model's 43-pixel mask lost one at 0.4999989, IoU 0.977)."""
    certain = ((reference - MASK_THRESHOLD).abs() > tolerance).flatten(1)
    a = (reference > MASK_THRESHOLD).flatten(1) & certain
    b = (candidate > MASK_THRESHOLD).flatten(1) & certain
    union = (a | b).sum(dim=1).double()
    inter = (a & b).sum(dim=1).double()
    # Two empty masks agree.
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def compare_outputs(reference: Detections, candidate: Detections, rtol: float, atol: float) -> dict:
    """Parity of two images' detections by matching: the share matched, the matched boxes' IoU, the
    matched scores' largest difference (against atol + rtol, scores being in [0, 1]), the matched
    masks' IoU (over the pixels not within tolerance of MASK_THRESHOLD) and keypoints' distances
    where the model gives them. Not discriminating (never a
    pass) where the reference has no detection."""
    rows, cols, ious = match(reference, candidate)
    matched = int(rows.numel())
    most = max(reference.count, candidate.count)
    matched_fraction = matched / most if most else 0.0
    score_diff = (
        float((reference.scores[rows].double() - candidate.scores[cols].double()).abs().max()) if matched else 0.0
    )
    tolerance = atol + rtol
    comparison: dict[str, Any] = {
        "reference_count": reference.count,
        "candidate_count": candidate.count,
        "matched": matched,
        "matched_fraction": matched_fraction,
        "min_matched_iou": float(ious.min()) if matched else None,
        "mean_matched_iou": float(ious.mean()) if matched else None,
        "median_matched_iou": float(ious.median()) if matched else None,
        "max_score_diff": score_diff,
        "tolerance": tolerance,
        "discriminates": reference.count > 0 and not scores_tied(reference),
    }
    agrees = matched_fraction >= MIN_MATCHED_FRACTION and matched > 0 and float(ious.min()) >= MIN_MATCHED_IOU
    agrees = agrees and score_diff <= tolerance
    if reference.masks is not None and candidate.masks is not None:
        mask_ious = _mask_ious(reference.masks[rows], candidate.masks[cols], tolerance) if matched else torch.zeros(0)
        comparison["min_mask_iou"] = float(mask_ious.min()) if matched else None
        agrees = agrees and (not matched or float(mask_ious.min()) >= MIN_MATCHED_IOU)
    if reference.keypoints is not None and candidate.keypoints is not None:
        distances = (reference.keypoints[rows, :, :2].double() - candidate.keypoints[cols, :, :2].double()).norm(dim=-1)
        within = float((distances <= KEYPOINT_PX).double().mean()) if matched else 0.0
        comparison["max_keypoint_distance_px"] = float(distances.max()) if matched else None
        comparison["keypoints_within_px"] = within
        agrees = agrees and within >= MIN_KEYPOINTS_WITHIN
    comparison["within_tolerance"] = bool(agrees)
    return comparison


def at_other_threads(module, image: torch.Tensor) -> tuple[int, Any]:
    """(threads, ``module(image)``) at another thread count than this process runs (2 where it runs
    1, else 1): how far the outputs move with the order of float additions alone."""
    threads = torch.get_num_threads()
    other = 2 if threads == 1 else 1
    torch.set_num_threads(other)
    try:
        return other, module(image)
    finally:
        torch.set_num_threads(threads)


def stays_put(floor: dict) -> bool:
    """Whether eager's detections at another thread count (``floor``, compare_outputs of them with
    eager's) stayed within STAYS_PUT_SHARE of the tolerances: every detection matched, and the
    boxes' (and keypoints') positions and the scores as good as unchanged."""
    if floor["matched_fraction"] < 1.0 or floor["min_matched_iou"] is None:
        return False
    near = 1.0 - floor["min_matched_iou"] <= STAYS_PUT_SHARE * (1.0 - MIN_MATCHED_IOU)
    near = near and floor["max_score_diff"] <= STAYS_PUT_SHARE * floor["tolerance"]
    return near and floor.get("keypoints_within_px", 1.0) == 1.0


def judged_with_threads_floor(comparison: dict, floor: dict, threads: int) -> dict:
    """A candidate's ``comparison`` with eager's detections, given ``floor``: eager's own detections
    at ``threads`` threads compared with them (compare_outputs). Where those do not stay put
    (stays_put), the image's detections move with the order of float additions (near-tied
    proposals of a two-stage detector, most of all with random weights: eager at 1 and 2 threads
    matched boxes down to IoU 0.75 with score differences of 2e-3 on
    fasterrcnn_mobilenet_v3_large_320_fpn), so the image cannot tell a right runtime from one that
    differs slightly: a candidate not within tolerance there does not discriminate, and it is a miss
    only where it is grossly off (a matched share below GROSS_MATCHED_SHARE of the floor's). The
    floor's figures go in the row either way."""
    moves = not stays_put(floor)
    judged = {
        **comparison,
        "eager_threads": threads,
        "eager_threads_matched_fraction": floor["matched_fraction"],
        "eager_threads_min_matched_iou": floor["min_matched_iou"],
        "eager_threads_max_score_diff": floor["max_score_diff"],
        "moves_with_threads": moves,
    }
    if comparison["within_tolerance"] or not moves:
        return judged
    gross = comparison["matched_fraction"] < GROSS_MATCHED_SHARE * floor["matched_fraction"]
    return {**judged, "discriminates": False, "within_tolerance": not gross}


def parity_message(label: str, comparison: dict) -> str:
    if comparison.get("moves_with_threads") and not comparison["discriminates"]:
        floor_iou = comparison["eager_threads_min_matched_iou"]
        floor = (
            f"eager's own detections at {comparison['eager_threads']} thread(s) moved "
            f"({comparison['eager_threads_matched_fraction']:.1%} matched, smallest matched IoU "
            f"{'-' if floor_iou is None else f'{floor_iou:.4f}'}, largest score difference "
            f"{comparison['eager_threads_max_score_diff']:.3e})"
        )
        share = (
            f"{comparison['matched_fraction']:.1%} matched (at least {GROSS_MATCHED_SHARE:.0%} of eager's own "
            f"{comparison['eager_threads_matched_fraction']:.1%})"
        )
        if comparison["within_tolerance"]:
            return f"{label}: not checked on this image, where {floor}; no gross difference: {share}"
        return f"{label}: grossly off where {floor}: {share}"
    if not comparison["discriminates"]:
        why = "has no detection" if comparison["reference_count"] == 0 else "scores every detection alike"
        return f"{label}: the reference {why}, so the comparison cannot discriminate"
    iou = comparison["min_matched_iou"]
    return (
        f"{label}: {comparison['matched']} of {comparison['reference_count']} reference and "
        f"{comparison['candidate_count']} candidate detections matched "
        f"({comparison['matched_fraction']:.1%}, at least {MIN_MATCHED_FRACTION:.0%} needed), "
        f"smallest matched IoU {'-' if iou is None else f'{iou:.4f}'} (at least {MIN_MATCHED_IOU}), "
        f"largest score difference {comparison['max_score_diff']:.3e} (tolerance {comparison['tolerance']:.3e})"
    )
