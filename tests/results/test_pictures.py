"""The figure of what deployments produced on a real input (tvdeploy.results.pictures): which
deployments it shows (eager beside the fastest other at batch 1, the next fastest where eager is
the fastest), their pictures drawn from prediction records by the task adapter, and a panel that
says why where a record is missing or a deployment failed."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image
from result_helpers import comparison_record

from tvdeploy.inputs.dat import write_dat
from tvdeploy.predict.outputs import TensorOutput, store_tensor_outputs
from tvdeploy.registry import paths
from tvdeploy.results import pictures, plots
from tvdeploy.results.frames import latency_table

MODEL = "maskrcnn_resnet50_fpn"
RUN, DEVICE = "laptop", "cpu"
IMAGE = "data/images/coffee_cup.png"  # 600 x 400
INPUT = "results/inputs/det/coffee_cup.dat"


def latency(medians: dict[str, float], failed=()) -> pd.DataFrame:
    return latency_table([comparison_record(MODEL, medians, failed=failed, run=RUN, device=DEVICE)])


def titles(panels) -> list[str]:
    return [p.title for p in panels]


def panels_of(medians: dict[str, float], failed=(), run=RUN):
    return pictures.chosen_panels(latency(medians, failed), run, DEVICE, MODEL)


def test_eager_is_shown_beside_the_fastest_successful_deployment_at_batch_1():
    medians = {"eager/plain": 30.0, "onnxruntime/plain": 12.0, "ts-python/plain": 20.0, "ts-cpp/plain": 5.0}
    panels = panels_of(medians, failed=("ts-cpp/plain",))
    assert [(p.runtime, p.variant, p.role) for p in panels] == [
        ("eager", "plain", "reference"),
        ("onnxruntime", "plain", "fastest"),
    ]
    assert panels[1].median_ms == pytest.approx(12.0, rel=0.02)
    assert titles(panels)[1].startswith("onnxruntime: fastest, 12.")


def test_where_eager_is_the_fastest_the_next_fastest_is_shown_beside_it():
    panels = panels_of({"eager/plain": 5.0, "onnxruntime/plain": 12.0, "ts-python/plain": 8.0})
    assert [(p.runtime, p.role) for p in panels] == [
        ("eager", "reference, fastest"),
        ("ts-python", "next fastest (eager is the fastest)"),
    ]


def test_a_failed_eager_says_so_and_eager_alone_where_nothing_else_succeeded():
    medians = {"eager/plain": 5.0, "onnxruntime/plain": 12.0}
    failed = panels_of(medians, failed=("eager/plain",))
    assert failed[0].error.startswith("eager/plain worker for") and failed[0].median_ms is None
    assert failed[1].runtime == "onnxruntime"
    alone = panels_of(medians, failed=("onnxruntime/plain",))
    assert [p.runtime for p in alone] == ["eager"] and alone[0].error is None
    # Not measured at batch 1: eager's record is still drawn, its title says it has no latency.
    unmeasured = panels_of(medians, run="elsewhere")
    assert len(unmeasured) == 1 and unmeasured[0].error is None
    assert unmeasured[0].title == "eager: reference, no latency at batch 1"


def record_path(runtime: str) -> str:
    return paths.PREDICTION.format(run=RUN, device=DEVICE, runtime=runtime, variant="plain", model=MODEL)


def write_record(root, runtime: str, box: list[float], error: str | None = None) -> None:
    """A detector's prediction record on coffee_cup.png: one detection and its mask, stored as a
    .dat beside the record as predict stores it."""
    path = root / record_path(runtime)
    path.parent.mkdir(parents=True, exist_ok=True)
    masks = torch.zeros(1, 400, 600)
    masks[0, int(box[1]) : int(box[3]), int(box[0]) : int(box[2])] = 0.9
    results = [
        {
            "input": INPUT,
            "row": 0,
            "detections": [{"box": box, "label": 47, "category": "cup", "score": 0.3}],
            "masks": TensorOutput(masks, "KHW"),
        }
    ]
    record = {"runtime": runtime, "variant": "plain", "error": error,
              "results": [] if error else store_tensor_outputs(results, path)}  # fmt: skip
    path.write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def root(tmp_path):
    """A repository's results in miniature: the source image, its preprocessed input's sidecar
    (naming the image relative to the repository) and the labels."""
    (tmp_path / IMAGE).parent.mkdir(parents=True)
    shutil.copy(REPO_ROOT / IMAGE, tmp_path / IMAGE)
    write_dat(torch.zeros(3, 4, 6), tmp_path / INPUT, "CHW", {"task": "detection", "image": IMAGE})
    (tmp_path / paths.LABELS.format(model=MODEL)).parent.mkdir(parents=True)
    (tmp_path / paths.LABELS.format(model=MODEL)).write_text("__background__\ncup\n", encoding="utf-8")
    return tmp_path


def figure_of(root, table, records):
    return pictures.outputs_figure(
        table, records, MODEL, "detection", RUN, DEVICE, paths.LABELS.format(model=MODEL), root
    )


def texts(figure) -> list[str]:
    """The panels' messages, unwrapped (the wrapping keeps every character)."""
    return [t.get_text().replace("\n", "") for axes in figure.axes for t in axes.texts]


def test_the_figure_draws_both_deployments_pictures_and_writes_a_png(root, tmp_path):
    write_record(root, "eager", [50.0, 40.0, 150.0, 140.0])
    write_record(root, "onnxruntime", [300.0, 200.0, 400.0, 300.0])
    table = latency({"eager/plain": 30.0, "onnxruntime/plain": 12.0})
    records = {(r, "plain"): record_path(r) for r in ("eager", "onnxruntime")}
    figure = figure_of(root, table, records)
    shown = [axes.images[0].get_array() for axes in figure.axes]
    assert [a.shape for a in shown] == [(400, 600, 3), (400, 600, 3)]
    # Each panel is its own record's drawing: eager's box on the left, onnxruntime's on the right.
    source = np.asarray(Image.open(root / IMAGE).convert("RGB"))
    assert (shown[0][90, 50] != source[90, 50]).any() and (shown[0][250, 300] == source[250, 300]).all()
    assert (shown[1][250, 300] != source[250, 300]).any() and (shown[1][90, 50] == source[90, 50]).all()
    assert [axes.get_title().split(":")[0] for axes in figure.axes] == ["eager", "onnxruntime"]
    assert "on coffee_cup" in figure.get_suptitle() and texts(figure) == []
    out = tmp_path / "plots" / "outputs.png"
    plots.save(figure, out)
    with Image.open(out) as png:
        assert png.format == "PNG" and png.width > png.height


def test_a_missing_record_and_a_failed_deployment_give_a_message_in_their_panel(root):
    write_record(root, "eager", [50.0, 40.0, 150.0, 140.0], error="RuntimeError: cannot load the model")
    table = latency({"eager/plain": 30.0, "onnxruntime/plain": 12.0})
    records = {(r, "plain"): record_path(r) for r in ("eager", "onnxruntime")}
    figure = figure_of(root, table, records)
    assert [len(axes.images) for axes in figure.axes] == [0, 0]
    assert texts(figure) == [
        "the deployment failed: RuntimeError: cannot load the model",
        f"no prediction record: {record_path('onnxruntime')} is missing",
    ]
    without = figure_of(root, table, {})
    assert texts(without)[0] == "the run has no prediction record of this deployment"


def test_every_drawn_task_has_an_adapter_that_draws_and_classification_is_not_drawn():
    import inspect

    from tvdeploy.registry import TASKS
    from tvdeploy.tasks import adapter

    drawn = [t.name for t in TASKS.values() if t.output_picture]
    assert drawn == ["segmentation", "video", "optical_flow", "detection"]
    for name in drawn:
        parameters = list(inspect.signature(adapter(name).draw_prediction).parameters)
        assert parameters == ["entry", "sidecar", "labels"], name
