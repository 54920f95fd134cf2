"""Pareto fronts of published accuracy against latency, one per task: each task's own metric,
data set and direction (``Task.accuracy_metric``, ``accuracy_dataset``, ``higher_is_better``),
for the accuracy-vs-latency figure (tvdeploy.results.plots) and the summary's fronts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tvdeploy.registry import TASKS, Task
from tvdeploy.results.deployability import PARITY_FAILED
from tvdeploy.results.frames import DEPLOYMENT_KEYS, of_run

# Every catalog model's task and published accuracy by its task's metric, None where its weights
# publish none (tvdeploy.plan.inputs.published_accuracy; a rule param of the figures and summary).
PublishedAccuracy = Mapping[str, tuple[str, float | None]]


def pareto_front(points: pd.DataFrame, cost: str, value: str, higher_is_better: bool = True) -> pd.DataFrame:
    """Rows not dominated by another row (no other is at most as costly and at least as good,
    and strictly better in one; good is a higher ``value``, or a lower one where not
    ``higher_is_better``: optical flow's end-point error), sorted by cost."""
    goodness = points[value].to_numpy(dtype=float) * (1.0 if higher_is_better else -1.0)
    # By cost, the best first among equal costs: a row is on the front when it beats every cheaper one.
    order = np.lexsort((-goodness, points[cost].to_numpy(dtype=float)))
    front, best = [], -math.inf
    for position in order:
        if goodness[position] > best:
            front.append(position)
            best = goodness[position]
    return points.iloc[front]


def fastest_per_model(
    latency: pd.DataFrame,
    device: str,
    batch_size: int,
    run: str | None = None,
    deployability: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The fastest successful deployment of each model (median latency); given ``deployability``,
    the fastest whose outputs were not found to differ from its reference's (a published accuracy
    is no claim about a deployment whose outputs differ)."""
    latency = of_run(latency, run)
    rows = latency[(latency["device"] == device) & (latency["batch_size"] == batch_size) & latency["error"].isna()]
    if deployability is not None and not deployability.empty:
        differs = deployability.loc[deployability["status"] == PARITY_FAILED, DEPLOYMENT_KEYS]
        rows = rows[~pd.MultiIndex.from_frame(rows[DEPLOYMENT_KEYS]).isin(pd.MultiIndex.from_frame(differs))]
    if rows.empty:
        return rows
    return rows.loc[rows.groupby("model")["median_ms"].idxmin()].reset_index(drop=True)


def with_accuracy(fastest: pd.DataFrame, accuracy: PublishedAccuracy) -> pd.DataFrame:
    """Rows of the models ``accuracy`` knows, with their ``task`` and published value in column
    ``accuracy`` (NaN where the weights publish none)."""
    known = fastest[fastest["model"].isin(list(accuracy))]
    return known.assign(
        task=[accuracy[m][0] for m in known["model"]],
        accuracy=[math.nan if accuracy[m][1] is None else float(accuracy[m][1]) for m in known["model"]],
    )


@dataclass(frozen=True)
class TaskFront:
    """One task's models with a published accuracy, its Pareto front by the task's direction, and
    how many of its measured models publish none (left out)."""

    task: Task
    points: pd.DataFrame
    front: pd.DataFrame
    unpublished: int


def task_fronts(scored: pd.DataFrame) -> list[TaskFront]:
    """Per task measured (registry order), from ``with_accuracy``'s rows: a task's own metric and
    data set are its own axis, so each has its own front."""
    fronts = []
    for task in TASKS.values():
        rows = scored[scored["task"] == task.name]
        if rows.empty:
            continue
        points = rows.dropna(subset=["accuracy"])
        front = pareto_front(points, "median_ms", "accuracy", task.higher_is_better)
        fronts.append(TaskFront(task, points, front, len(rows) - len(points)))
    return fronts


def accuracy_label(task: Task) -> str:
    """What a task's accuracy axis shows: metric, data set and which way is better."""
    direction = "higher" if task.higher_is_better else "lower"
    return f"{task.accuracy_metric} on {task.accuracy_dataset} ({direction} is better)"
