"""What a deployment produced on a real input, drawn: for one (run, device, model), the picture of
eager's prediction on the model's first input beside that of the fastest other successful
deployment (latency table, batch 1), each drawn by the model's task adapter (``draw_prediction``,
tvdeploy.tasks), titled with the deployment and its median latency. Where a deployment failed or
its record is missing, its panel says so instead of a picture.

Needs torch (the adapters draw with torchvision.utils): a job's script imports it, the workflow's
parse never does.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from tvdeploy.inputs.dat import sidecar_path
from tvdeploy.predict.outputs import resolve_tensor_outputs
from tvdeploy.registry import EAGER, PLAIN, column_label
from tvdeploy.registry import task as registry_task
from tvdeploy.registry.paths import call_input_stem
from tvdeploy.results.formatting import run_title
from tvdeploy.tasks import adapter

# The batch size the latencies are read at: a prediction record is of one input per call.
BATCH_SIZE = 1
PANEL_WIDTH_IN = 6.0
# Room for a panel's title and caption beside its picture, and the height of panels of messages alone.
PANEL_MARGIN_IN = 1.2
MESSAGE_HEIGHT_IN = 2.5
# A panel's message is wrapped at this many characters: paths and errors do not break on their own.
MESSAGE_WIDTH = 60
# Keys of a sidecar that name source files (an image or clip; a pair's two images), made readable
# from the folder the records' paths are relative to.
SOURCE_KEYS = ("image", "sources")


class PictureUnavailable(Exception):
    """A deployment's prediction cannot be drawn (no record, a failed deployment, no result); the
    message says why and goes into the figure in place of the picture."""


@dataclass(frozen=True)
class Panel:
    """One deployment shown: ``role`` says why it was chosen; ``error``: why it has no measurement
    (its latency row's error, or that it has none), None where it has one."""

    runtime: str
    variant: str
    role: str
    median_ms: float | None = None
    error: str | None = None

    @property
    def title(self) -> str:
        latency = f"{self.median_ms:.2f} ms" if self.median_ms is not None else f"no latency at batch {BATCH_SIZE}"
        return f"{column_label(self.runtime, self.variant)}: {self.role}, {latency}"


def chosen_panels(latency: pd.DataFrame, run: str, device: str, model: str) -> list[Panel]:
    """Eager's panel, then the fastest other successful deployment's at batch 1. Where eager is
    itself the fastest, the next fastest is shown beside it: eager beside eager would show
    nothing, and the next fastest is the deployment one would choose instead of eager, whose
    output is what the figure checks. Eager alone where nothing else succeeded."""
    rows = latency[
        (latency["run"] == run)
        & (latency["device"] == device)
        & (latency["model"] == model)
        & (latency["batch_size"] == BATCH_SIZE)
    ]
    is_eager = (rows["runtime"] == EAGER) & (rows["variant"] == PLAIN)
    eager_rows = rows[is_eager]
    ok = rows[rows["error"].isna()].sort_values(["median_ms", "runtime", "variant"])
    eager_fastest = not ok.empty and bool(is_eager[ok.index[0]])
    if eager_rows.empty:
        # Not compared at batch 1 (bench.batch_sizes without it): its record is still drawn.
        eager = Panel(EAGER, PLAIN, "reference")
    else:
        row = eager_rows.iloc[0]
        failed = isinstance(row["error"], str) and row["error"]
        eager = Panel(
            EAGER,
            PLAIN,
            "reference, fastest" if eager_fastest else "reference",
            None if failed else float(row["median_ms"]),
            row["error"] if failed else None,
        )
    others = ok[~is_eager[ok.index]]
    if others.empty:
        return [eager]
    best = others.iloc[0]
    role = "next fastest (eager is the fastest)" if eager_fastest else "fastest"
    return [eager, Panel(best["runtime"], best["variant"], role, float(best["median_ms"]))]


def readable_sidecar(entry: dict, root: Path) -> dict:
    """The sidecar of the input ``entry`` was predicted on, its source paths made readable from
    ``root`` (the records and sidecars name them relative to the repository)."""
    path = root / entry["input"]
    try:
        sidecar = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise PictureUnavailable(f"the input's sidecar {sidecar_path(entry['input'])} cannot be read: {err}") from err
    for key in SOURCE_KEYS:
        if isinstance(sidecar.get(key), str):
            sidecar[key] = str(root / sidecar[key])
        elif isinstance(sidecar.get(key), list):
            sidecar[key] = [str(root / p) for p in sidecar[key]]
    return sidecar


def picture(record_path: str | Path | None, task: str, labels: list[str] | None, root: Path):
    """``(image, caption, input name)`` of a prediction record's first entry, drawn by the task's
    adapter; PictureUnavailable saying why where it cannot be."""
    if record_path is None:
        raise PictureUnavailable("the run has no prediction record of this deployment")
    named, record_path = record_path, root / record_path
    if not record_path.is_file():
        raise PictureUnavailable(f"no prediction record: {named} is missing")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record.get("error"):
        raise PictureUnavailable(f"the deployment failed: {record['error']}")
    if not record.get("results"):
        raise PictureUnavailable(f"{record_path.name} holds no result")
    entry = resolve_tensor_outputs({"results": record["results"][:1]}, record_path)["results"][0]
    image, caption = adapter(task).draw_prediction(entry, readable_sidecar(entry, root), labels)
    # The user's input's name (a pair's, not its image1 file's).
    return image, caption, call_input_stem(Path(entry["input"]).stem, registry_task(task).input_names)[0]


def _message(axes, message: str) -> None:
    wrapped = "\n".join(textwrap.wrap(message, MESSAGE_WIDTH, drop_whitespace=False))
    axes.text(0.5, 0.5, wrapped, ha="center", va="center", fontsize=9, color="#b71c1c")


def _drawn(panel: Panel, records: dict, task: str, labels: list[str] | None, root: Path):
    """A panel's ``(image, caption, input name)``, or the message saying why it has none."""
    if panel.error is not None:
        return f"no measurement: {panel.error}"
    try:
        return picture(records.get((panel.runtime, panel.variant)), task, labels, root)
    except PictureUnavailable as err:
        return str(err)


def outputs_figure(
    latency: pd.DataFrame,
    records: dict[tuple[str, str], str],
    model: str,
    task: str,
    run: str,
    device: str,
    labels_path: str | Path | None = None,
    root: str | Path = ".",
) -> Figure:
    """Eager's picture beside the fastest other deployment's (chosen_panels), from the prediction
    records of the model's deployments by (runtime, variant), paths relative to ``root``."""
    root = Path(root)
    labels = Path(root / labels_path).read_text(encoding="utf-8").splitlines() if labels_path else None
    panels = chosen_panels(latency, run, device, model)
    drawn = [_drawn(panel, records, task, labels, root) for panel in panels]
    # As high as the tallest picture needs at the panel's width (a flow picture is two images wide).
    aspects = [d[0].shape[1] / d[0].shape[2] for d in drawn if not isinstance(d, str)]
    height = PANEL_WIDTH_IN * max(aspects) + PANEL_MARGIN_IN if aspects else MESSAGE_HEIGHT_IN
    figure, axes_row = plt.subplots(
        1, len(panels), figsize=(PANEL_WIDTH_IN * len(panels), height), squeeze=False, layout="constrained"
    )
    inputs = set()
    for panel, content, axes in zip(panels, drawn, axes_row[0], strict=True):
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(panel.title, fontsize=10)
        if isinstance(content, str):
            _message(axes, content)
            continue
        image, caption, name = content
        inputs.add(name)
        axes.imshow(image.permute(1, 2, 0).numpy())
        axes.set_xlabel(caption, fontsize=8, wrap=True)
    where = f" on {', '.join(sorted(inputs))}" if inputs else ""
    figure.suptitle(f"{model} ({task}){where}: {run_title(run, device, BATCH_SIZE)}")
    return figure
