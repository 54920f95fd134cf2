"""Figures of a run, drawn with matplotlib (headless) from the result tables.

Every function takes tables (``tvdeploy.results.frames``, ``tvdeploy.results.deployability``) and
returns a Figure; ``save`` writes it atomically. With 80 models the figures grow with the row count
instead of shrinking the text, and only the points that matter (the Pareto front) carry labels.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from tvdeploy.files import atomic_path
from tvdeploy.registry import EAGER, RUNTIMES, column_label
from tvdeploy.results import fronts
from tvdeploy.results.deployability import DEPLOYABILITY_STATES, deployability_wide
from tvdeploy.results.formatting import run_title
from tvdeploy.results.frames import of_run
from tvdeploy.results.fronts import PublishedAccuracy, TaskFront, accuracy_label, task_fronts, with_accuracy

DPI = 120
INCHES_PER_MODEL_ROW = 0.22
MIN_HEIGHT_IN = 3.0
WIDTH_IN = 9.0
MARKERS = "os^Dvph<>*"
# Deployability classes, in the heat map's colour order.
DEPLOYABILITY = DEPLOYABILITY_STATES
# ok green, parity not checked blue-grey (not a pass), parity failed amber, failed red, not run grey.
DEPLOYABILITY_COLOURS = ("#4caf50", "#90a4ae", "#ffb300", "#e53935", "#e0e0e0")
# Accuracy figure: x range extended left by this factor for the labels, label offset and spacing
# in axes fractions.
LABEL_ROOM_FACTOR = 8.0
LABEL_OFFSET = 0.03
LABEL_GAP = 0.028
# Accuracy figure: a task's panel height (in), the whole catalog's classifiers the tallest (the
# gap between labels above is for it, scaled for the others); characters of a 9 pt axis label per
# inch of panel height.
ACCURACY_PANEL_MAX_IN, ACCURACY_PANEL_MIN_IN, ACCURACY_PANEL_EMPTY_IN = 6.5, 3.0, 1.0
ACCURACY_LABEL_CHARS_PER_IN = 9
# The throughput figure names its models in a legend up to this many.
MAX_LEGEND_MODELS = 20
# Ticks of ratio axes: round numbers, dense near 1 where most comparisons land.
RATIO_TICKS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def save(figure: Figure, path: str | Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=DPI, bbox_inches="tight")
    plt.close(figure)


def _deployment_label(runtime: str, variant: str) -> str:
    return column_label(runtime, variant)


def _deployments(table: pd.DataFrame) -> list[tuple[str, str]]:
    order = list(RUNTIMES)
    pairs = {(r, v) for r, v in zip(table["runtime"], table["variant"], strict=True)}
    return sorted(pairs, key=lambda p: (order.index(p[0]) if p[0] in order else len(order), p[1]))


def _height(rows: int) -> float:
    return max(MIN_HEIGHT_IN, 1.2 + INCHES_PER_MODEL_ROW * rows)


def _model_rows(axes, models: list[str]) -> None:
    """One labelled row per model, first at the top, every other row shaded so a point can be
    followed to its name across a tall figure; x ticks repeated on top for the same reason."""
    for row in range(0, len(models), 2):
        axes.axhspan(row - 0.5, row + 0.5, color="#f2f2f2", zorder=0)
    axes.set_yticks(range(len(models)), models, fontsize=8)
    axes.set_ylim(len(models) - 0.5, -0.5)
    axes.tick_params(axis="x", top=True, labeltop=len(models) > 20)


def _model_rows_figure(models: list[str]) -> tuple[Figure, plt.Axes, dict[str, int]]:
    """A figure with one row per model (first at the top) and each model's row position."""
    figure, axes = plt.subplots(figsize=(WIDTH_IN, _height(len(models))), layout="constrained")
    return figure, axes, {m: i for i, m in enumerate(models)}


def _row_offsets(entries: int, spread: float) -> np.ndarray | list[float]:
    """Vertical offsets that keep several series of one model's row apart."""
    return np.linspace(-spread, spread, entries) if entries > 1 else [0.0]


def _finish_model_rows(figure: Figure, axes, models: list[str], title: str, xlabel: str, entries: int) -> Figure:
    _model_rows(axes, models)
    axes.set_xlabel(xlabel)
    axes.set_title(title)
    axes.grid(axis="x", which="both", alpha=0.3)
    _legend_below(figure, entries)
    return figure


def _legend_below(figure: Figure, entries: int) -> None:
    """Below the axes, where it cannot hide a model's row."""
    figure.legend(loc="outside lower center", ncols=min(entries, 4), fontsize=8, frameon=False)


def _ratio_axis(axes) -> None:
    """Log-scaled ratio axis labelled 0.8×, 1×, 1.25× instead of powers of ten (call after plotting:
    the ticks are the round ratios inside the drawn range)."""
    axes.set_xscale("log")
    low, high = axes.get_xlim()
    axes.xaxis.set_major_locator(FixedLocator([r for r in RATIO_TICKS if low <= r <= high]))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}×"))
    axes.xaxis.set_minor_formatter(NullFormatter())


def _message_figure(title: str, message: str) -> Figure:
    figure, axes = plt.subplots(figsize=(WIDTH_IN, 2.0))
    axes.set_axis_off()
    axes.set_title(title)
    axes.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def _where(run: str | None, device: str, batch_size: int | None = None) -> str:
    return run_title(run, device, batch_size) if run else device + (f", batch {batch_size}" if batch_size else "")


def _median_with_spread(dep: pd.DataFrame):
    median = dep["median_ms"].to_numpy()
    return median, median - dep["min_ms"].to_numpy(), dep["p90_ms"].to_numpy() - median


def _speedup_with_interval(dep: pd.DataFrame):
    speedup = dep["speedup_vs_eager"].to_numpy()
    # The upper whisker capped at 100× the estimate, so one wide interval cannot stretch the axis.
    high = np.minimum(dep["speedup_ci_high"].to_numpy(), speedup * 100)
    return speedup, speedup - dep["speedup_ci_low"].to_numpy(), high - speedup


def _deployment_rows(axes, rows: pd.DataFrame, position: dict, deployments, whiskers) -> None:
    """One marker series per deployment on the model rows, offset within each row: ``whiskers``
    gives a deployment's values and its lower and upper whisker lengths."""
    offsets = _row_offsets(len(deployments), 0.25)
    for (runtime, variant), offset, marker in zip(deployments, offsets, MARKERS * 4, strict=False):
        dep = rows[(rows["runtime"] == runtime) & (rows["variant"] == variant)]
        y = np.array([position[m] for m in dep["model"]]) + offset
        value, low, high = whiskers(dep)
        axes.errorbar(
            value, y, xerr=[low, high], fmt=marker, markersize=4, capsize=2, linewidth=0.8,
            label=_deployment_label(runtime, variant),
        )  # fmt: skip


def latency_per_model(latency: pd.DataFrame, device: str, batch_size: int, run: str | None = None) -> Figure:
    """Median latency of every deployment per model (log scale), whiskers from the fastest
    iteration to the 90th percentile; models sorted by eager latency."""
    latency = of_run(latency, run)
    rows = latency[(latency["device"] == device) & (latency["batch_size"] == batch_size) & latency["error"].isna()]
    title = f"Latency per model — {_where(run, device, batch_size)}"
    if rows.empty:
        return _message_figure(title, "no successful measurement")
    order = rows[rows["runtime"] == EAGER].set_index("model")["median_ms"]
    models = sorted(set(rows["model"]), key=lambda m: (order.get(m, math.inf), m))
    deployments = _deployments(rows)
    figure, axes, position = _model_rows_figure(models)
    _deployment_rows(axes, rows, position, deployments, _median_with_spread)
    axes.set_xscale("log")
    xlabel = "latency per batch (ms, log scale): median, whiskers min – p90"
    return _finish_model_rows(figure, axes, models, title, xlabel, len(deployments))


def speedup_vs_eager(
    latency: pd.DataFrame, device: str, batch_size: int, confidence: float = 0.95, run: str | None = None
) -> Figure:
    """Paired speedup of every deployment over eager per model with its interval; 1.0 marked."""
    latency = of_run(latency, run)
    rows = latency[
        (latency["device"] == device)
        & (latency["batch_size"] == batch_size)
        & (latency["runtime"] != EAGER)
        & latency["speedup_vs_eager"].notna()
    ]
    title = f"Speedup over eager PyTorch — {_where(run, device, batch_size)}"
    if rows.empty:
        return _message_figure(title, "no paired comparison with eager")
    best = rows.groupby("model")["speedup_vs_eager"].max().sort_values(ascending=False)
    models = list(best.index)
    deployments = _deployments(rows)
    figure, axes, position = _model_rows_figure(models)
    _deployment_rows(axes, rows, position, deployments, _speedup_with_interval)
    axes.axvline(1.0, color="black", linewidth=1)
    _ratio_axis(axes)
    xlabel = f"speedup over eager (×, log scale; > 1 faster), {confidence:.0%} interval over paired rounds"
    return _finish_model_rows(figure, axes, models, title, xlabel, len(deployments))


def throughput_vs_batch(latency: pd.DataFrame, device: str, run: str | None = None) -> Figure:
    """Images per second against batch size: one panel per deployment, a line per model."""
    latency = of_run(latency, run)
    rows = latency[(latency["device"] == device) & latency["error"].isna()]
    title = f"Throughput vs batch size — {_where(run, device)}"
    if rows["batch_size"].nunique() < 2:
        sizes = ", ".join(str(b) for b in sorted(rows["batch_size"].unique())) or "none"
        return _message_figure(title, f"one batch size measured ({sizes}): set bench.batch_sizes to several")
    deployments = _deployments(rows)
    columns = min(3, len(deployments))
    lines = math.ceil(len(deployments) / columns)
    figure, axes_grid = plt.subplots(
        lines, columns, figsize=(WIDTH_IN, 1.0 + 2.8 * lines), squeeze=False, sharex=True, sharey=True,
        layout="constrained",
    )  # fmt: skip
    models = sorted(set(rows["model"]))
    palette = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    colours = {m: palette(i % palette.N) for i, m in enumerate(models)}
    sizes = sorted(rows["batch_size"].unique())
    for axes, (runtime, variant) in zip(axes_grid.flat, deployments, strict=False):
        dep = rows[(rows["runtime"] == runtime) & (rows["variant"] == variant)]
        for model, series in dep.sort_values("batch_size").groupby("model"):
            axes.plot(
                series["batch_size"], series["throughput_ips"], marker=".", linewidth=0.8, alpha=0.8,
                color=colours[model], label=model,
            )  # fmt: skip
        axes.set_title(_deployment_label(runtime, variant), fontsize=9)
        axes.set_xscale("log", base=2)
        axes.xaxis.set_major_locator(FixedLocator(sizes))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_yscale("log")
        axes.grid(which="both", alpha=0.3)
    for axes in axes_grid.flat[len(deployments) :]:
        axes.set_axis_off()
    figure.supxlabel("batch size (log scale)")
    figure.supylabel("images per second (log scale)")
    figure.suptitle(f"{title}; one line per model")
    # Names only while a legend stays readable; with the whole catalog the lines show the trend.
    if len(models) <= MAX_LEGEND_MODELS:
        handles, labels = axes_grid.flat[0].get_legend_handles_labels()
        figure.legend(handles, labels, loc="outside right upper", fontsize=8, frameon=False)
    return figure


def _stacked(heights: np.ndarray, gap: float = LABEL_GAP, top: float = 0.98) -> list[float]:
    """Label heights (axes fraction) at least ``gap`` apart, each as close above its point as the
    ones below allow, pushed back down where they would leave the axes."""
    placed: list[float] = []
    for height in heights:
        placed.append(max(height, placed[-1] + gap) if placed else height)
    for i in range(len(placed) - 1, -1, -1):
        ceiling = top if i == len(placed) - 1 else placed[i + 1] - gap
        placed[i] = min(placed[i], ceiling)
    return placed


def _accuracy_panel_height(points: int) -> float:
    """A panel tall enough to stack its front's labels: the whole catalog's classifiers take
    ACCURACY_PANEL_MAX_IN, a task of a few models less, one that only says it has no value a line."""
    fitting = min(ACCURACY_PANEL_MAX_IN, max(ACCURACY_PANEL_MIN_IN, 2.0 + 0.1 * points))
    return fitting if points else ACCURACY_PANEL_EMPTY_IN


def _accuracy_panel(axes, panel: TaskFront, height_in: float) -> None:
    task, points, front = panel.task, panel.points, panel.front
    left_out = f"; {panel.unpublished} without a published {task.accuracy_metric} left out" if panel.unpublished else ""
    axes.set_title(f"{task.name}: {len(points)} models{left_out}", fontsize=10)
    if points.empty:
        axes.set_axis_off()
        axes.text(0.5, 0.5, f"no measured {task.name} model has a published {task.accuracy_metric}", ha="center",
                  va="center", transform=axes.transAxes)  # fmt: skip
        return
    axes.scatter(points["median_ms"], points["accuracy"], s=14, color="#90a4ae", label="model (fastest deployment)")
    axes.plot(front["median_ms"], front["accuracy"], "-o", color="#d81b60", markersize=5, label="Pareto front")
    axes.set_xscale("log")
    # Room on the left for the labels: on the better side of the front nothing is plotted (no model
    # is both faster and better), so they go there, stacked without overlapping. A lower-is-better
    # axis is inverted, so that better is up in every panel and the labels stack the same way.
    latency_low, latency_high = points["median_ms"].min(), points["median_ms"].max()
    low, high = points["accuracy"].min(), points["accuracy"].max()
    span = (high - low) or (0.1 * abs(high)) or 1.0
    axes.set_xlim(latency_low / LABEL_ROOM_FACTOR, latency_high * 1.5)
    # More room on the better side, where the labels stack; worse at the bottom (inverts EPE's axis).
    (worse, better), up = ((low, high), 1.0) if task.higher_is_better else ((high, low), -1.0)
    axes.set_ylim(worse - up * 0.15 * span, better + up * 0.25 * span)
    to_axes = axes.transData + axes.transAxes.inverted()
    anchors = to_axes.transform(front[["median_ms", "accuracy"]].to_numpy(dtype=float))
    gap = LABEL_GAP * ACCURACY_PANEL_MAX_IN / height_in
    for (x, _), y, (_, row) in zip(anchors, _stacked(anchors[:, 1], gap), front.iterrows(), strict=True):
        axes.annotate(
            row["model"], (row["median_ms"], row["accuracy"]), xytext=(x - LABEL_OFFSET, y),
            textcoords="axes fraction", ha="right", va="center", fontsize=8, color="#880e4f",
            arrowprops={"arrowstyle": "-", "color": "#d81b60", "linewidth": 0.5, "alpha": 0.6},
        )  # fmt: skip
    axes.set_xlabel("median latency of the fastest deployment (ms per batch, log scale)")
    # Wrapped to the panel's height: the data set names are long and the panels of a few models short.
    label = textwrap.fill(accuracy_label(task), width=int(height_in * ACCURACY_LABEL_CHARS_PER_IN))
    axes.set_ylabel(label + ("" if task.higher_is_better else "\naxis inverted: better is up"), fontsize=9)
    axes.grid(which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)


def accuracy_vs_latency(
    latency: pd.DataFrame,
    accuracy: PublishedAccuracy,
    device: str,
    batch_size: int,
    run: str | None = None,
    deployability: pd.DataFrame | None = None,
) -> Figure:
    """One panel per task measured: the accuracy its models' torchvision weights publish (the
    task's own metric and data set) against the latency of the fastest deployment whose outputs
    did not differ (``deployability``); each task's Pareto front (nothing both faster and better,
    by the task's direction) drawn and labelled."""
    title = f"Accuracy vs latency — {_where(run, device, batch_size)}"
    fastest = fronts.fastest_per_model(latency, device, batch_size, run, deployability)
    if fastest.empty:
        return _message_figure(title, "no successful measurement")
    panels = task_fronts(with_accuracy(fastest, accuracy))
    if not panels:
        # Models of runs copied in that this catalog does not hold: no task, no axis.
        return _message_figure(title, "no measured model is in the catalog")
    heights = [_accuracy_panel_height(len(p.points)) for p in panels]
    figure, axes_column = plt.subplots(len(panels), 1, figsize=(WIDTH_IN, sum(heights) + 0.5), height_ratios=heights,
                                       squeeze=False, layout="constrained")  # fmt: skip
    for axes, panel, height in zip(axes_column[:, 0], panels, heights, strict=True):
        _accuracy_panel(axes, panel, height)
    figure.suptitle(f"{title}; published accuracy of the torchvision weights, one panel per task")
    return figure


def deployability_matrix(deployability: pd.DataFrame, device: str, run: str | None = None) -> pd.DataFrame:
    """Model × deployment states (``tvdeploy.results.deployability.deployability_table``) of one
    device: ok, parity failed, failed, not run."""
    rows = of_run(deployability, run)
    rows = rows[rows["device"] == device]
    if rows.empty:
        return pd.DataFrame()
    return pd.concat([deployability_wide(rows, r, device) for r in sorted(set(rows["run"]))]).groupby(level=0).first()


def deployability_heatmap(matrix: pd.DataFrame, device: str, run: str | None = None) -> Figure:
    title = f"Deployability — {_where(run, device)}"
    if matrix.empty:
        return _message_figure(title, "no deployment ran")
    code = {name: i for i, name in enumerate(DEPLOYABILITY)}
    codes = matrix.apply(lambda column: column.map(code)).to_numpy(dtype=float)
    figure, axes = plt.subplots(figsize=(max(4.0, 1.2 + 1.1 * matrix.shape[1]), _height(matrix.shape[0])))
    axes.imshow(codes, cmap=ListedColormap(DEPLOYABILITY_COLOURS), vmin=-0.5, vmax=len(DEPLOYABILITY) - 0.5,
                aspect="auto", interpolation="nearest")  # fmt: skip
    axes.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right", fontsize=8)
    axes.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in DEPLOYABILITY_COLOURS]
    counts = {name: int((matrix == name).to_numpy().sum()) for name in DEPLOYABILITY}
    axes.legend(handles, [f"{n} ({counts[n]})" for n in DEPLOYABILITY], loc="upper left",
                bbox_to_anchor=(1.01, 1.0), fontsize=8)  # fmt: skip
    axes.set_title(title)
    return figure


def runs_side_by_side(latency: pd.DataFrame, batch_size: int) -> Figure:
    """The fastest deployment's median latency per model in every run and device present (log
    scale): where a laptop CPU and a cluster GPU stand on the same models."""
    title = f"Fastest deployment per model, every run — batch {batch_size}"
    fastest = [
        fronts.fastest_per_model(group, device, batch_size).assign(where=run_title(run, device))
        for (run, device), group in latency.groupby(["run", "device"], sort=True)
    ]
    rows = pd.concat([f for f in fastest if not f.empty], ignore_index=True) if fastest else pd.DataFrame()
    if rows.empty:
        return _message_figure(title, "no successful measurement")
    first = rows[rows["where"] == rows["where"].iloc[0]].set_index("model")["median_ms"]
    models = sorted(set(rows["model"]), key=lambda m: (first.get(m, math.inf), m))
    places = list(dict.fromkeys(rows["where"]))
    figure, axes, position = _model_rows_figure(models)
    offsets = _row_offsets(len(places), 0.2)
    for place, offset, marker in zip(places, offsets, MARKERS * 4, strict=False):
        at = rows[rows["where"] == place]
        axes.scatter(at["median_ms"], [position[m] + offset for m in at["model"]], marker=marker, s=16, label=place)
    axes.set_xscale("log")
    xlabel = "median latency of the model's fastest deployment (ms per batch, log scale)"
    return _finish_model_rows(figure, axes, models, title, xlabel, len(places))


def draw(
    kind: str,
    latency: pd.DataFrame,
    deployability: pd.DataFrame,
    run: str | None,
    device: str | None,
    batch_size: int | None,
    accuracy: PublishedAccuracy,
    confidence: float,
) -> Figure:
    """The figure of one kind (the keys of paths.PLOTS_PER_BATCH and paths.PLOTS_PER_DEVICE, and
    "runs") for one run and device."""
    if kind == "latency":
        return latency_per_model(latency, device, batch_size, run)
    if kind == "speedup":
        return speedup_vs_eager(latency, device, batch_size, confidence, run)
    if kind == "accuracy":
        return accuracy_vs_latency(latency, accuracy, device, batch_size, run, deployability)
    if kind == "throughput":
        return throughput_vs_batch(latency, device, run)
    if kind == "deployability":
        return deployability_heatmap(deployability_matrix(deployability, device, run), device, run)
    if kind == "runs":
        return runs_side_by_side(latency, batch_size)
    raise ValueError(f"unknown plot kind {kind!r}")
