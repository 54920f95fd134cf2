"""Figures and the summary page from a small fixture of comparison results: two runs (a laptop's
CPU, a cluster node's GPU), two batch sizes, a noisy deployment, a failed one and a parity miss
(tvdeploy.results.plots, tvdeploy.results.summary)."""

import pandas as pd
import pytest
from PIL import Image
from result_helpers import comparison_record

from tvdeploy.registry import paths
from tvdeploy.results import fronts, plots
from tvdeploy.results.deployability import deployability_table
from tvdeploy.results.frames import latency_table, ratios_table
from tvdeploy.results.parity import parity_table
from tvdeploy.results.summary import failure_class, summary_markdown

ACCURACY = {
    m: ("classification", top1)
    for m, top1 in {"resnet18": 69.758, "resnet50": 80.858, "mobilenet_v3_small": 67.668, "vit_b_16": 81.072}.items()
}
# Median ms per deployment: resnet50 is slower and more accurate than resnet18; vit_b_16 is slower
# and barely more accurate than resnet50 (still on the front); mobilenet_v3_small is fastest.
MEDIANS = {
    "resnet18": {"eager/plain": 20.0, "ts-python/plain": 18.0, "ts-cpp/plain": 17.5},
    "resnet50": {"eager/plain": 50.0, "ts-python/plain": 45.0, "ts-cpp/plain": 46.0},
    "mobilenet_v3_small": {"eager/plain": 8.0, "ts-python/plain": 7.0, "ts-cpp/plain": 7.2},
    "vit_b_16": {"eager/plain": 120.0, "ts-python/plain": 118.0, "ts-cpp/plain": 119.0},
}
FAILED = ("vit_b_16", "ts-cpp/plain")
RUNS = {"cpu": "laptop", "cuda": "gpu01"}


def records():
    result = []
    for device, scale in (("cpu", 1.0), ("cuda", 0.1)):
        for batch in (1, 8):
            for model, medians in MEDIANS.items():
                failed = (FAILED[1],) if model == FAILED[0] and device == "cpu" else ()
                scaled = {name: ms * scale * batch**0.8 for name, ms in medians.items()}
                result.append(
                    comparison_record(model, scaled, batch=batch, device=device, failed=failed, run=RUNS[device])
                )
    return result


@pytest.fixture(scope="module")
def tables():
    recs = records()
    latency = latency_table(recs)
    # One noisy deployment, as a real run flags them.
    latency.loc[(latency["model"] == "resnet18") & (latency["runtime"] == "eager"), "noisy"] = True
    comparisons = {
        d: [
            {
                "model": m,
                "device": d,
                "runtime": r,
                "variant": "plain",
                "reference": "eager",
                "image": "a",
                "max_abs_diff": 3e-3 if (m == "resnet50" and r == "ts-cpp") else 1e-6,
                "tolerance": 1e-3,
                "logits_max_abs": 10.0,
                "top5_match": True,
                "within_tolerance": not (m == "resnet50" and r == "ts-cpp"),
            }
            for m in MEDIANS
            for r in ("ts-python", "ts-cpp")
        ]
        for d in ("cpu", "cuda")
    }
    parity = parity_table([{"run": RUNS[d], "comparisons": rows} for d, rows in comparisons.items()], {})
    predictions = [
        {"run": RUNS[d], "device": d, "model": m, "runtime": name.split("/")[0], "variant": "plain", "error": None}
        for m, medians in MEDIANS.items()
        for d in ("cpu", "cuda")
        for name in medians
    ]
    return latency, ratios_table(recs), deployability_table(predictions, parity, latency)


def test_pareto_front_drops_dominated_models():
    points = pd.DataFrame(
        {"model": ["a", "b", "c", "d", "e"], "ms": [1.0, 2.0, 3.0, 2.5, 2.0], "acc": [60.0, 70.0, 80.0, 65.0, 69.0]}
    )
    front = fronts.pareto_front(points, "ms", "acc")
    # d is slower and less accurate than b; e ties b on latency but is less accurate.
    assert list(front["model"]) == ["a", "b", "c"]


def test_pareto_front_of_a_lower_is_better_metric_keeps_what_nothing_beats_both_faster_and_lower():
    # End-point errors (px): a fast and rough, c slow and precise; d slower and worse than b; e ties
    # b's latency with a larger error.
    points = pd.DataFrame(
        {"model": ["a", "b", "c", "d", "e"], "ms": [1.0, 2.0, 3.0, 2.5, 2.0], "epe": [3.0, 2.0, 1.5, 2.5, 2.2]},
        index=[10, 11, 12, 13, 14],
    )
    front = fronts.pareto_front(points, "ms", "epe", higher_is_better=False)
    assert list(front["model"]) == ["a", "b", "c"]
    assert list(front.index) == [10, 11, 12]  # rows of the table as given
    # Read the other way (higher is better), the same points leave a alone: nothing is both
    # slower than it and higher.
    assert list(fronts.pareto_front(points, "ms", "epe")["model"]) == ["a"]


def test_fastest_deployment_per_model_skips_failures(tables):
    latency, _, _ = tables
    fastest = fronts.fastest_per_model(latency, "cpu", 1).set_index("model")
    assert fastest.loc["resnet18", "runtime"] == "ts-cpp"
    assert fastest.loc["vit_b_16", "runtime"] == "ts-python"  # its ts-cpp failed


def test_the_accuracy_figures_fastest_deployment_is_one_whose_outputs_did_not_differ(tables):
    latency, _, deployability = tables
    # resnet50's ts-python is its fastest (45 ms); say its outputs differed, as its ts-cpp's (46) do.
    differs = deployability.copy()
    differs.loc[(differs["model"] == "resnet50") & (differs["runtime"] == "ts-python"), "status"] = "parity failed"
    by_median = fronts.fastest_per_model(latency, "cpu", 1).set_index("model")
    assert by_median.loc["resnet50", "runtime"] == "ts-python"
    agreeing = fronts.fastest_per_model(latency, "cpu", 1, deployability=differs).set_index("model")
    assert agreeing.loc["resnet50", "runtime"] == "eager"
    assert agreeing.loc["resnet18", "runtime"] == "ts-cpp" and agreeing.loc["vit_b_16", "runtime"] == "ts-python"


def test_deployability_classes(tables):
    _, _, deployability = tables
    matrix = plots.deployability_matrix(deployability, "cpu")
    assert matrix.loc["vit_b_16", "ts-cpp (plain)"] == "failed"
    assert matrix.loc["resnet50", "ts-cpp (plain)"] == "parity failed"
    assert matrix.loc["resnet18", "ts-cpp (plain)"] == "ok" and matrix.loc["resnet18", "eager"] == "ok"
    assert plots.deployability_matrix(deployability, "cuda").loc["vit_b_16", "ts-cpp (plain)"] == "ok"
    # The benchmark's failure is classified from its message; the parity miss says by how much.
    rows = deployability.set_index(["device", "model", "runtime"])
    assert rows.loc[("cpu", "vit_b_16", "ts-cpp"), "error_class"] == "benchmark: crashed"
    assert rows.loc[("cpu", "resnet50", "ts-cpp"), "detail"].startswith(
        "vs eager: max |Δ| 3× tolerance (0.0003 of the logits"
    )


@pytest.mark.parametrize("kind", [*paths.PLOTS_PER_BATCH, *paths.PLOTS_PER_DEVICE, "runs"])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_figure_renders(tables, tmp_path, kind, device):
    latency, _, deployability = tables
    figure = plots.draw(kind, latency, deployability, RUNS[device], device, 1, ACCURACY, 0.95)
    # Titles name what and where; axes carry units.
    title = figure.get_suptitle() or figure.axes[0].get_title()
    assert f"{RUNS[device]} · {device}" in title or kind == "runs"
    out = tmp_path / f"{kind}.png"
    plots.save(figure, out)
    with Image.open(out) as image:
        width, height = image.size
    assert width > 600 and height > 200


def test_latency_figure_grows_with_the_models_and_labels_them_all(tables):
    latency, _, _ = tables
    figure = plots.latency_per_model(latency, "cpu", 1)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["mobilenet_v3_small", "resnet18", "resnet50", "vit_b_16"]  # by eager latency
    assert "ms" in figure.axes[0].get_xlabel() and figure.axes[0].get_xscale() == "log"


def test_accuracy_figure_labels_the_pareto_front_only(tables):
    latency, _, _ = tables
    figure = plots.accuracy_vs_latency(latency, ACCURACY, "cpu", 1)
    labelled = {t.get_text() for t in figure.axes[0].texts}
    assert labelled == {"mobilenet_v3_small", "resnet18", "resnet50", "vit_b_16"}
    dominated = dict(ACCURACY, resnet18=("classification", 60.0))  # slower and less accurate than mobilenet_v3_small
    figure = plots.accuracy_vs_latency(latency, dominated, "cpu", 1)
    assert "resnet18" not in {t.get_text() for t in figure.axes[0].texts}
    # Models this catalog does not hold (a run copied in) have no task, so no axis: it says so.
    figure = plots.accuracy_vs_latency(latency, {}, "cpu", 1)
    assert "no measured model is in the catalog" in figure.axes[0].texts[0].get_text()


# Three tasks' models: medians (ms) of each deployment.
TASK_MEDIANS = {
    "resnet18": {"eager/plain": 20.0, "ts-python/plain": 18.0},
    "resnet50": {"eager/plain": 50.0, "ts-python/plain": 45.0},
    "fcn_resnet50": {"eager/plain": 300.0, "ts-python/plain": 280.0},
    "lraspp_mobilenet_v3_large": {"eager/plain": 40.0, "ts-python/plain": 35.0},
    # raft_large is slower with the lower (better) end-point error: on the front of a lower-is-better
    # metric, off it were EPE read as higher-is-better.
    "raft_small": {"eager/plain": 100.0, "ts-python/plain": 90.0},
    "raft_large": {"eager/plain": 250.0, "ts-python/plain": 240.0},
}


@pytest.fixture(scope="module")
def task_latency():
    return latency_table([comparison_record(m, medians) for m, medians in TASK_MEDIANS.items()])


@pytest.fixture(scope="module")
def catalog_accuracy():
    """The models' published accuracy as the run plan passes it, from the catalog sheet."""
    from conftest import REPO_ROOT

    from tvdeploy.catalog.sheet import read_sheet
    from tvdeploy.plan.inputs import published_accuracy

    catalog = read_sheet(REPO_ROOT / "config" / "models.tsv")
    return published_accuracy({m: catalog[m] for m in TASK_MEDIANS})


def _panels(figure) -> dict:
    return {a.get_title().split(":")[0]: a for a in figure.axes}


def _ylabel(axes) -> str:
    """An axis label as one line (the figure wraps them to the panel's height)."""
    return " ".join(axes.get_ylabel().split())


def test_accuracy_figure_has_one_panel_per_task_on_its_own_metric(task_latency, catalog_accuracy):
    figure = plots.accuracy_vs_latency(task_latency, catalog_accuracy, "cpu", 1)
    panels = _panels(figure)
    assert list(panels) == ["classification", "segmentation", "optical_flow"]  # registry order
    assert _ylabel(panels["classification"]) == "acc@1 on ImageNet-1K (higher is better)"
    assert _ylabel(panels["segmentation"]) == "mIoU on COCO val2017, VOC labels (higher is better)"
    flow = panels["optical_flow"]
    assert _ylabel(flow) == (
        "EPE on Sintel clean pass (train or test split by weights) (lower is better) axis inverted: better is up"
    )
    # Lower is better: the axis runs downward, so that better is up in every panel.
    assert flow.yaxis_inverted() and not panels["classification"].yaxis_inverted()
    # EPE's front: raft_large is slower but lower (better) than raft_small, so both are on it.
    assert {t.get_text() for t in flow.texts} == {"raft_small", "raft_large"}
    front_line = next(line for line in flow.lines if line.get_label() == "Pareto front")
    assert list(front_line.get_ydata()) == [pytest.approx(1.9901), pytest.approx(1.819)]
    # Each panel plots its task's models alone, at the fastest deployment's latency.
    points = panels["segmentation"].collections[0].get_offsets()
    assert sorted(points[:, 1]) == [pytest.approx(57.9), pytest.approx(60.5)]
    assert min(points[:, 0]) == pytest.approx(35.0, rel=0.05)
    assert {t.get_text() for t in panels["classification"].texts} == {"resnet18", "resnet50"}
    assert panels["classification"].get_xscale() == "log"


def test_a_task_without_published_values_says_so_in_its_panel(task_latency, catalog_accuracy):
    unpublished = dict(
        catalog_accuracy,
        fcn_resnet50=("segmentation", None),
        lraspp_mobilenet_v3_large=("segmentation", None),
        resnet50=("classification", None),
    )
    figure = plots.accuracy_vs_latency(task_latency, unpublished, "cpu", 1)
    panels = _panels(figure)
    assert list(panels) == ["classification", "segmentation", "optical_flow"]
    segmentation = panels["segmentation"]
    assert segmentation.texts[0].get_text() == "no measured segmentation model has a published mIoU"
    assert "2 without a published mIoU left out" in segmentation.get_title()
    # A model without a value is left out of its task's panel, which says how many.
    assert panels["classification"].get_title() == "classification: 1 models; 1 without a published acc@1 left out"
    assert {t.get_text() for t in panels["classification"].texts} == {"resnet18"}


def test_summary_names_a_pareto_front_per_task(task_latency, catalog_accuracy, tables):
    _, ratios, deployability = tables
    text = summary_markdown(task_latency, ratios.iloc[:0], deployability.iloc[:0], {"run": "laptop"}, catalog_accuracy)
    assert "**Pareto front, classification**" in text and "**Pareto front, segmentation**" in text
    flow = text.split("**Pareto front, optical_flow**", 1)[1].split("**Speedup", 1)[0]
    assert "both faster and lower in EPE" in flow
    assert "published EPE on Sintel clean pass" in flow and "(lower is better)" in flow
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in flow.splitlines() if line.startswith("| raft")]
    assert rows == [
        ["raft_small", "ts-python (plain)", "90", "1.99"],
        ["raft_large", "ts-python (plain)", "240", "1.819"],
    ]
    unpublished = dict(catalog_accuracy, raft_small=("optical_flow", None), raft_large=("optical_flow", None))
    text = summary_markdown(task_latency, ratios.iloc[:0], deployability.iloc[:0], {"run": "laptop"}, unpublished)
    assert "**Pareto front, optical_flow:** no measured model has a published EPE." in text


def test_throughput_needs_two_batch_sizes(tables):
    latency, _, _ = tables
    one_batch = latency[latency["batch_size"] == 1]
    figure = plots.throughput_vs_batch(one_batch, "cpu")
    assert "one batch size measured" in figure.axes[0].texts[0].get_text()
    figure = plots.throughput_vs_batch(latency, "cpu")
    assert len([a for a in figure.axes if a.lines]) == 3  # one panel per deployment
    # Few models: a legend names each line; the x axis shows the batch sizes themselves.
    assert [t.get_text() for t in figure.legends[0].get_texts()] == sorted(MEDIANS)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["1", "8"]


def test_runs_side_by_side_shows_every_run_and_device(tables):
    latency, _, _ = tables
    figure = plots.runs_side_by_side(latency, 1)
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["gpu01 · cuda", "laptop · cpu"]
    # Each run's points are its fastest deployment per model: the GPU run's are 10x faster.
    points = {c.get_label(): c.get_offsets() for c in figure.axes[0].collections}
    assert len(points["laptop · cpu"]) == len(points["gpu01 · cuda"]) == len(MEDIANS)
    assert points["gpu01 · cuda"][:, 0].max() < points["laptop · cpu"][:, 0].max()


def test_figures_of_one_run_leave_the_others_out(tables):
    latency, _, deployability = tables
    matrix = plots.deployability_matrix(deployability, "cpu", run="gpu01")
    assert matrix.empty  # gpu01 measured no CPU
    figure = plots.latency_per_model(latency, "cuda", 1, run="gpu01")
    assert "gpu01 · cuda, batch 1" in figure.axes[0].get_title()


def test_summary_page(tables):
    latency, ratios, deployability = tables
    environment = {
        "run": "laptop",
        "hostname": "box",
        "cpu": {"model": "AMD EPYC", "cores": 2},
        "gpu": {"name": None},
        "versions": {"torch": "2.14.1", "torchvision": "0.29.1"},
        "git": {"commit": "abc"},
        "config": {"bench": {"rounds": 5, "threads": 0, "interop_threads": 1}},
    }
    text = summary_markdown(latency, ratios, deployability, environment, ACCURACY)
    assert "## laptop · cpu, batch 1" in text and "## gpu01 · cuda, batch 8" in text
    assert "- run laptop · cpu (this run): 4 models" in text and "- run gpu01 · cuda (copied in)" in text
    assert "Pareto front" in text and "mobilenet_v3_small" in text
    assert "AMD EPYC (2 cores)" in text and "torch 2.14.1" in text
    assert "paired comparisons were indistinguishable" in text
    assert "- benchmark: crashed: 1 (vit_b_16 ts-cpp (plain) on laptop · cpu)" in text
    # resnet50 ts-cpp on cpu and cuda
    assert "- parity failed (outputs beyond tolerance): 2 (resnet50 ts-cpp (plain) on gpu01 · cuda, " in text
    # An environment.json without the run's time by stage (written before it existed): no section.
    assert "Where the time goes" not in text
    # Nor, from before the CPU's flags were kept, a line about them.
    assert "flags that decide a precision" not in text


def test_summary_names_the_cpu_flags_its_precisions_and_what_did_not_run(tables):
    from tvdeploy.host.environment import cpu_info

    latency, ratios, deployability = tables
    environment = {"run": "laptop", "cpu": {**cpu_info(), "flags": ["avx2", "fma", "avx512_vnni"]}, "not_run": {}}
    environment["cpu"]["precisions"] = {"float32": "native", "bfloat16": "bfloat16 is not native", "int8": "native"}
    skipped = "variant bf16 skipped on the CPU: bfloat16 is not native on this CPU (none of avx512_bf16, amx_bf16)"
    environment["not_run"] = {"cpu": [skipped]}
    text = summary_markdown(latency, ratios, deployability, environment, ACCURACY)
    assert "- CPU flags that decide a precision: avx512_vnni\n" in text
    assert "- precisions native on this CPU: float32, int8\n" in text
    assert f"- not run on cpu: {skipped}\n" in text
    environment["cpu"]["flags"] = ["avx2", "fma"]
    text = summary_markdown(latency, ratios, deployability, environment, ACCURACY)
    assert "- CPU flags that decide a precision: none of avx512_bf16, amx_bf16, avx512_vnni, avx_vnni, amx_int8" in text
    # What this machine reads off itself: every flag, and every precision native or why not.
    here = cpu_info()
    assert set(here["precisions"]) == {"float32", "bfloat16", "float16", "int8"}
    assert here["precisions"]["float32"] == "native" and "cuda only" in here["precisions"]["float16"]
    assert "sse2" in here["flags"]


def test_summary_says_where_the_time_goes(tables):
    from tvdeploy.plan.targets import BENCHMARKS, EXPORTS, STAGES
    from tvdeploy.results.jobs import time_by_stage

    latency, ratios, deployability = tables
    jobs = [(EXPORTS, 0.0, 600.0), (EXPORTS, 300.0, 900.0), (BENCHMARKS, 900.0, 1800.0)]
    environment = {"run": "laptop", "time_by_stage": {**time_by_stage(jobs, STAGES), "untimed_jobs": 5}}
    text = summary_markdown(latency, ratios, deployability, environment, ACCURACY)
    section = text.split("## Where the time goes (laptop)\n", 1)[1]
    assert "Wall time 30.0 min" in section and "5 job(s) left no timing record" in section
    rows = [
        [cell.strip() for cell in line.split("|")[1:-1]]
        for line in section.splitlines()
        if line.startswith("| ") and "stage" not in line
    ]
    assert rows == [
        ["exports and conversions", "2", "15", "50 %"],
        ["comparisons and other benchmarks", "1", "15", "50 %"],
    ]


def test_failure_classes():
    assert failure_class("ts-cpp/plain worker for m: exited unexpectedly (exit status -11)") == "crashed"
    assert failure_class("CUDA error: out of memory") == "out of memory"
    assert failure_class("device 'cuda' requested but no CUDA device is available") == "no device"
    assert failure_class("something else") == "other"
    assert failure_class("BuildTimeout: build took longer than 60 s") == "timeout"
    assert failure_class("OpConversionFailure: Model wasn't fully converted") == "unsupported operator"


def test_summary_never_calls_an_unchecked_parity_an_agreement():
    from tvdeploy.results.summary import _failure_section

    unchecked = pd.DataFrame(
        [{"run": "r", "device": "cpu", "model": "lraspp", "runtime": "ts-cpp", "variant": "plain",
          "status": "parity not checked", "error_class": None, "detail": "vs ts-python/plain: ..."}]
    )  # fmt: skip
    text = _failure_section(unchecked)
    assert "agreed" not in text
    assert text.startswith("- parity not checked (outputs cannot discriminate, e.g. random weights): 1 (lraspp")
