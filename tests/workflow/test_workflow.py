"""End to end: the real Snakefile through Snakemake on a tiny config, in a copy of the repo."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT
from workflow_helpers import MODELS, RUN, RUNTIMES, copy_workflow, planned_jobs, snakemake

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.registry import TASKS
from tvdeploy.results.parity import PARITY_AGREES, PARITY_NOT_CHECKED

pytestmark = pytest.mark.slow

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")
CLASSIFIERS = [m for m in MODELS if CATALOG[m].task == "classification"]
SEGMENTERS = [m for m in MODELS if CATALOG[m].task == "segmentation"]
# Parity checks per model: ts-python, onnxruntime and openvino-python against eager, ts-cpp against ts-python.
CHECKS_PER_MODEL = 4

# CI sets it: there a missing browser must fail the report check, not skip it.
REQUIRE_BROWSER_ENV = "TVDEPLOY_REQUIRE_BROWSER"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = copy_workflow(tmp_path_factory.mktemp("e2e"))
    start = time.monotonic()
    snakemake(workdir)
    print(f"tiny end-to-end run took {time.monotonic() - start:.0f} s")
    return workdir


def table(run_dir, name):
    return pd.read_csv(run_dir / "results" / "tables" / name)


def test_latency_table_has_every_model_and_runtime(run_dir):
    latency = table(run_dir, "latency.csv")
    assert sorted(zip(latency["model"], latency["runtime"], strict=True)) == sorted(
        (m, r) for m in MODELS for r in RUNTIMES
    )
    assert set(latency["weights_source"]) == {"random"}
    assert (latency["median_ms"] > 0).all() and (latency["iterations"] >= 3 * 5).all()
    assert (latency["rounds"] == 3).all() and latency["error"].isna().all()
    eager = latency[latency["runtime"] == "eager"]
    assert (eager["speedup_vs_eager"] == 1.0).all()
    deployed = latency[latency["runtime"] != "eager"]
    assert (deployed["speedup_ci_low"] <= deployed["speedup_vs_eager"]).all()
    assert (deployed["speedup_vs_eager"] <= deployed["speedup_ci_high"]).all()
    assert deployed["verdict_vs_eager"].isin(["faster", "slower", "indistinguishable"]).all()
    for column in ["batch_size", "p90_ms", "mean_ms", "std_ms", "threads", "device"]:
        assert latency[column].notna().all()
    # Efficiency: the model's arithmetic per second against the peak its comparison job measured.
    assert (latency["peak_gflop_per_s"] > 1).all() and latency.groupby("model")["peak_gflop_per_s"].nunique().eq(
        1
    ).all()
    rate = latency["model_gflop"] / (latency["median_ms"] / 1000)
    assert ((latency["gflop_per_s"] - rate).abs() <= 1e-4 * rate).all()  # the CSV keeps 6 digits
    markdown = (run_dir / "results" / "tables" / "latency.md").read_text()
    assert "efficiency, GFLOP/s" in markdown
    assert all(m in markdown for m in MODELS) and "ts-cpp (plain)" in markdown
    assert "Paired comparisons by verdict" in markdown and "speedup vs eager [95% CI]" in markdown


def test_every_ratio_that_matters_has_an_interval(run_dir):
    ratios = table(run_dir, "ratios.csv")
    kinds = {(m, k) for m, k in zip(ratios["model"], ratios["kind"], strict=True)}
    assert kinds == {(m, k) for m in MODELS for k in ("vs_eager", "cross_language", "vs_peer")}
    peer = ratios[ratios["kind"] == "vs_peer"]
    assert set(peer["reference"]) == {"onnxruntime/plain"}
    assert set(peer["candidate"]) == {"ts-python/plain", "ts-cpp/plain", "openvino-python/plain"}
    cross = ratios[ratios["kind"] == "cross_language"]
    assert set(cross["candidate"]) == {"ts-cpp/plain"} and set(cross["reference"]) == {"ts-python/plain"}
    assert (ratios["rounds"] == 3).all()
    assert ((ratios["ci_low"] <= ratios["ratio"]) & (ratios["ratio"] <= ratios["ci_high"])).all()
    comparison = (run_dir / "results" / "runs" / RUN / "compare" / "cpu" / "b1" / "squeezenet1_1.json").read_text()
    schedule = json.loads(comparison)["schedule"]
    # One block per deployment per round (plus re-runs of noisy blocks), never two at once.
    spans = sorted((s["started_at"], s["finished_at"]) for s in schedule)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    assert {(s["launch"], s["round"]) for s in schedule} == {(0, 0), (0, 1), (1, 2)}


def test_catalog_doc_renders_the_run(run_dir):
    snakemake(run_dir, "docs/generated/catalog.md")
    doc = (run_dir / "docs" / "generated" / "catalog.md").read_text()
    checks = CHECKS_PER_MODEL * len(MODELS)
    assert f"Models: {len(MODELS)}; latency rows: {len(MODELS) * len(RUNTIMES)}; parity rows: {checks}, " in doc
    assert f"top-5 equal in {CHECKS_PER_MODEL * len(CLASSIFIERS)} of {CHECKS_PER_MODEL * len(CLASSIFIERS)}" in doc
    wall = re.search(r"Wall time of the run: ([\d.]+) min .* less 0 idle gap", doc)
    assert wall and 0 < float(wall.group(1)) < 30, doc[:1500]
    assert "ts-cpp / ts-python cpu [95% CI]" in doc and "paired verdicts:" in doc
    per_model, comparisons = doc.split("## Every deployment against eager and against ONNX Runtime")
    per_model, by_stage = per_model.split("## Where the time goes")
    # Where the run's time went: a row per stage (downloads, exports, benchmarks, ...).
    assert "| downloads " in by_stage and "| comparisons" in by_stage
    rows = [line for line in per_model.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert sorted(row.split("|")[1].strip() for row in rows) == sorted(MODELS)
    assert all("| True " in row for row in rows if row.split("|")[1].strip() in CLASSIFIERS)  # top-5 equal
    assert "time vs eager" in comparisons and "time vs onnxruntime" in comparisons
    # The default config's catalog goal, judged from this run's ratios.
    assert "### Performance goals" in comparisons and f"geometric mean over {len(MODELS)} models" in comparisons
    # The deployability matrix: every model deployed everywhere, and what each build cost.
    matrix = comparisons.split("### Deployability — tiny · cpu")[1]
    cells = [line for line in matrix.splitlines() if line.startswith(tuple(f"| {m} " for m in CLASSIFIERS))]
    assert "| openvino-python" in matrix and len(cells) == 2 and all(line.count("✓") == 5 for line in cells)
    # The segmentation model: eager deployed; each other deployment agreed or could not be checked
    # (random weights give one-class masks), never shown as a pass without a check.
    # (the first line of the model: the matrix's; the unchecked ones are listed again below it).
    segmenter = next(line for line in matrix.splitlines() if line.startswith(tuple(f"| {m} " for m in SEGMENTERS)))
    assert segmenter.count("✓") + segmenter.count("? parity") == 5 and "✗" not in segmenter
    assert "Failures, parity misses and unchecked parity" in matrix
    assert "| onnx " in matrix and "| openvino " in matrix


def test_cpp_top5_equals_python_torchscript_top5(run_dir):
    preds = table(run_dir, "predictions.csv")
    assert set(preds["image"]) == {"chelsea_cat", "coffee_cup", "falcon9_rocket"}
    key = ["model", "image", "rank"]
    # The segmentation model's rows: its classes by share of the pixels, the same in C++ and Python.
    masks = preds[preds["model"].isin(SEGMENTERS)]
    cpp_masks = masks[masks["runtime"] == "ts-cpp"].set_index(key).sort_index()
    py_masks = masks[masks["runtime"] == "ts-python"].set_index(key).sort_index()
    assert set(masks["image"]) == set(preds["image"]) and masks["probability"].isna().all()
    assert (cpp_masks["class_index"] == py_masks["class_index"]).all()
    assert ((cpp_masks["pixel_fraction"] - py_masks["pixel_fraction"]).abs() < 1e-2).all()
    preds = preds[preds["model"].isin(CLASSIFIERS)]
    cpp = preds[preds["runtime"] == "ts-cpp"].set_index(key).sort_index()
    py = preds[preds["runtime"] == "ts-python"].set_index(key).sort_index()
    assert len(cpp) == len(CLASSIFIERS) * 3 * 5
    assert (cpp["class_index"] == py["class_index"]).all()
    assert (cpp["label"] == py["label"]).all()
    assert ((cpp["probability"] - py["probability"]).abs() < 1e-5).all()


def test_parity_within_tolerance(run_dir):
    parity = table(run_dir, "parity.csv")
    pairs = set(zip(parity["model"], parity["runtime"], parity["reference"], strict=True))
    assert pairs == {(m, r, "eager") for m in MODELS for r in ("ts-python", "onnxruntime", "openvino-python")} | {
        (m, "ts-cpp", "ts-python/plain") for m in MODELS
    }
    assert parity["within_tolerance"].all()
    logits = parity[parity["model"].isin(CLASSIFIERS)]
    assert logits["top5_match"].all() and (logits["max_abs_diff"] <= logits["tolerance"]).all()
    assert (logits["verdict"] == PARITY_AGREES).all()
    # Segmentation: every pixel's class compared (masks read from the .dat files beside each
    # record), agreeing, or not checked where the reference mask is one class.
    masks = parity[parity["model"].isin(SEGMENTERS)]
    assert len(masks) == CHECKS_PER_MODEL * len(SEGMENTERS) and masks["max_abs_diff"].isna().all()
    assert (masks["argmax_agreement"] >= 0.99).all() and masks["verdict"].isin(
        [PARITY_AGREES, PARITY_NOT_CHECKED]
    ).all()
    assert ((masks["verdict"] == PARITY_AGREES) == (masks["images_checked"] > 0)).all()
    for model in SEGMENTERS:
        record_path = run_dir / "results" / "runs" / RUN / "predictions" / "cpu" / "ts-cpp" / "plain" / f"{model}.json"
        record = json.loads(record_path.read_text())
        for index, result in enumerate(record["results"]):
            assert result["mask"]["dat"] == f"{model}.{index}.mask.dat"
            assert (record_path.parent / result["mask"]["dat"]).stat().st_size == 4 * math.prod(result["mask"]["shape"])


def test_deployability_and_build_cost_tables(run_dir):
    deployability = table(run_dir, "deployability.csv")
    assert sorted(zip(deployability["model"], deployability["runtime"], strict=True)) == sorted(
        (m, r) for m in MODELS for r in RUNTIMES
    )
    classified = deployability[deployability["model"].isin(CLASSIFIERS)]
    assert (classified["status"] == "ok").all()
    segmented = deployability[deployability["model"].isin(SEGMENTERS)]
    assert segmented["status"].isin(["ok", "parity not checked"]).all()
    assert (segmented[segmented["runtime"] == "eager"]["status"] == "ok").all()
    builds = table(run_dir, "builds.csv")
    assert sorted(zip(builds["model"], builds["artifact"], strict=True)) == sorted(
        (m, a) for m in MODELS for a in ("torchscript", "onnx", "openvino")
    )
    assert (builds["status"] == "ok").all() and (builds["job_s"] >= builds["build_s"]).all()
    assert (builds["job_max_rss_mb"] > 100).all()
    onnx_folder = run_dir / "results" / "onnx" / "squeezenet1_1"
    # Besides Snakemake's own marker (.snakemake_timestamp), the model and its build record.
    assert sorted(p.name for p in onnx_folder.iterdir() if not p.name.startswith(".")) == ["build.json", "model.onnx"]
    # The tables read the record's copy kept beside the folders.
    kept = run_dir / "results" / "builds" / "onnx" / "squeezenet1_1.json"
    assert json.loads(kept.read_text()) == json.loads((onnx_folder / "build.json").read_text())
    # Segmentation artifacts take the image's H and W (the three images preprocess to their own sizes).
    for model in SEGMENTERS:
        for artifact in ("onnx", "openvino"):
            build = json.loads((run_dir / "results" / artifact / model / "build.json").read_text())
            assert build["dynamic_height"] and build["dynamic_width"], build


def test_dropped_artifacts_are_deleted_after_use_and_not_rebuilt(run_dir, tmp_path):
    """export.keep_artifacts: false makes the artifacts temporary: an artifact goes once the jobs
    that read it are done, and its absence alone rebuilds nothing."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    model = "squeezenet1_1"
    prediction = f"results/runs/{RUN}/predictions/cpu/onnxruntime/plain/{model}.json"
    (workdir / prediction).unlink()
    tiny = workdir / "config" / "tiny.yaml"
    config = yaml.safe_load(tiny.read_text())
    config["export"] = {"timeout_s": 3600, "keep_artifacts": False}
    tiny.write_text(yaml.safe_dump(config))
    # mtime only: the copy's absolute input paths differ, which is no reason to redo the chain.
    assert planned_jobs(snakemake(workdir, "-n", prediction, "--rerun-triggers", "mtime").stdout) == {"infer_python": 1}
    snakemake(workdir, prediction, "--rerun-triggers", "mtime")
    assert json.loads((workdir / prediction).read_text())["model"] == model
    # Every reader of squeezenet1_1's ONNX model is done; the other model's was not read again.
    assert not (workdir / "results" / "onnx" / model).exists()
    assert (workdir / "results" / "onnx" / "mobilenet_v3_small" / "model.onnx").is_file()
    assert (workdir / "results" / "builds" / "onnx" / f"{model}.json").is_file()
    # The new prediction is re-checked and re-tabled; the missing artifact rebuilds nothing.
    jobs = planned_jobs(snakemake(workdir, "-n", "--rerun-triggers", "mtime").stdout)
    assert jobs == {"check_parity": 1, "aggregate": 1, **FIGURE_JOBS, **OUTPUT_PICTURE_JOBS, "all": 1}


def test_every_runtime_on_one_model(run_dir, tmp_path):
    """config/compiled.yaml's runtimes (AOTInductor in Python and C++, torch.compile, OpenVINO in C++) on one model,
    in a copy of the finished run: only the new artifact, predictions, comparison and parity run."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    compiled = (REPO_ROOT / "config" / "compiled.yaml").read_text()
    every = re.search(r"^runtimes: \[(.*)\]$", compiled, re.M).group(1).replace(" ", "")
    model = "squeezenet1_1"
    comparison = f"results/runs/{RUN}/compare/cpu/b1/{model}.json"
    parity = f"results/runs/{RUN}/parity/cpu/{model}.json"
    # mtime only: the copy's absolute input paths differ, which is no reason to redo the chain.
    # The harness overhead of the C++ runtimes that load a built artifact (the probe is built too).
    overheads = [f"results/runs/{RUN}/overhead/cpu/{r}.json" for r in ("aoti-cpp", "openvino-cpp")]
    args = [comparison, parity, *overheads, "--rerun-triggers", "mtime", "--forcerun", "compare", "check_parity"]
    snakemake(workdir, *args, "--config", f"runtimes=[{every}]", "variants=[plain,fused]")
    record = json.loads((workdir / comparison).read_text())
    deployments = record["deployments"]
    fused = {"ts-python/fused", "ts-cpp/fused"}
    assert set(deployments) == {f"{r}/plain" for r in every.split(",")} | fused
    assert all(d["error"] is None and d["summary"]["median_ms"] > 0 for d in deployments.values()), deployments
    # torch.compile compiles in the first call of each worker start, reported apart from latency.
    assert (
        deployments["compile/plain"]["ready"]["first_call_s"]
        > 10 * deployments["compile/plain"]["summary"]["median_ms"] / 1000
    )
    pairs = {(c["kind"], c["candidate"]) for c in record["comparisons"] if c["verdict"]}
    assert ("cross_language", "aoti-cpp/plain") in pairs and ("vs_peer", "aoti-python/plain") in pairs
    assert ("cross_language", "openvino-cpp/plain") in pairs
    checks = json.loads((workdir / parity).read_text())["comparisons"]
    checked = {(c["runtime"], c["reference"]) for c in checks if c["within_tolerance"]}
    assert {("aoti-python", "eager"), ("aoti-cpp", "aoti-python"), ("compile", "eager")} <= checked
    assert ("openvino-cpp", "openvino-python") in checked
    # The default's fused variant: parity against eager, and the oneDNN Graph fuser really ran in C++.
    fused_checked = {
        (c["runtime"], c["reference"]) for c in checks if c["variant"] == "fused" and c["within_tolerance"]
    }
    assert fused_checked == {("ts-python", "eager"), ("ts-cpp", "ts-python/fused")}
    assert deployments["ts-cpp/fused"]["ready"]["fusion_groups"] > 0
    for overhead in overheads:
        assert json.loads((workdir / overhead).read_text())["summary"]["median_ms"] > 0
    build = json.loads((workdir / "results" / "aoti" / "cpu" / "plain" / model / "build.json").read_text())
    assert build["status"] == "ok" and build["variant"] == "plain" and build["inductor_configs"]["freezing"] is True


def test_an_eager_quantized_model_through_the_workflow(run_dir, tmp_path):
    """An eager-quantized classifier in a copy of the finished run: its engine reaches the C++
    worker from the sheet, every runtime that loads it agrees with eager on discriminating
    logits, and the one that cannot export it (ONNX through torch.export) is recorded."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    model = "quantized_shufflenet_v2_x0_5"
    comparison = f"results/runs/{RUN}/compare/cpu/b1/{model}.json"
    parity = f"results/runs/{RUN}/parity/cpu/{model}.json"
    agreement, summary = "results/tables/float_agreement.csv", "results/summary.md"
    targets = (comparison, parity, agreement, summary)
    snakemake(workdir, *targets, "--rerun-triggers", "mtime", "--config", f"models=[{model}]")
    deployments = json.loads((workdir / comparison).read_text())["deployments"]
    onnx = deployments.pop("onnxruntime/plain")
    assert "the onnx artifact was not built (export error)" in onnx["error"] and not onnx["blocks"]
    assert all(d["error"] is None and d["summary"]["median_ms"] > 0 for d in deployments.values()), deployments
    assert deployments["ts-cpp/plain"]["ready"]["quantized_engine"] == "fbgemm"
    record = json.loads((workdir / parity).read_text())
    checked = {(c["runtime"], c["reference"]) for c in record["comparisons"]}
    assert checked == {("ts-python", "eager"), ("ts-cpp", "ts-python/plain"), ("openvino-python", "eager")}
    assert all(c["within_tolerance"] and c["discriminates"] for c in record["comparisons"]), record["comparisons"]
    assert [u["runtime"] for u in record["unavailable"]] == ["onnxruntime"]
    # Beside it, its float model predicted by eager alone: each deployment's agreement with it,
    # kept but not comparable (random weights are independent draws for the two models).
    reference = json.loads((workdir / f"results/runs/{RUN}/float_references/cpu/shufflenet_v2_x0_5.json").read_text())
    eager = json.loads((workdir / f"results/runs/{RUN}/predictions/cpu/eager/plain/{model}.json").read_text())
    assert reference["error"] is None and len(reference["results"]) == len(eager["results"]) > 1
    rows = pd.read_csv(workdir / agreement)
    assert set(rows["runtime"]) == {"eager", "ts-python", "ts-cpp", "openvino-python"}
    assert (rows["float_model"] == "shufflenet_v2_x0_5").all() and (rows["images"] == len(reference["results"])).all()
    assert rows["top1_agreement"].between(0, 1).all() and rows["top5_overlap"].between(0, 1).all()
    assert (~rows["comparable"]).all() and rows["note"].str.startswith("random weights").all()
    assert "shufflenet_v2_x0_5" not in set(pd.read_csv(workdir / "results/tables/deployability.csv")["model"])
    assert "Not comparable (random weights" in (workdir / summary).read_text()


def test_a_video_model_through_the_workflow(run_dir, tmp_path):
    """A video classifier in a copy of the finished run: the shipped clip preprocessed to NCTHW at
    the model's clip length, every default runtime measured and checked against its reference on
    discriminating logits, C++ included."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    model = "mc3_18"  # the smallest video model's weights (11.7 M parameters, 16 frames of 112 px)
    info = CATALOG[model]
    comparison = f"results/runs/{RUN}/compare/cpu/b1/{model}.json"
    parity = f"results/runs/{RUN}/parity/cpu/{model}.json"
    # A run whose first model is a video model probes each harness's overhead with its 5-D clip.
    overheads = [f"results/runs/{RUN}/overhead/cpu/{runtime}.json" for runtime in RUNTIMES]
    for overhead in overheads:
        (workdir / overhead).unlink(missing_ok=True)
    start = time.monotonic()
    snakemake(workdir, comparison, parity, *overheads, "--rerun-triggers", "mtime", "--config", f"models=[{model}]")
    print(f"{model} through the workflow took {time.monotonic() - start:.0f} s")
    for overhead in overheads:
        record = json.loads((workdir / overhead).read_text())
        assert record["input_shape"] == [1, 3, 16, 112, 112] and record["summary"]["median_ms"] > 0, overhead
    sidecar = json.loads((workdir / "results" / "inputs" / info.spec_id / "chelsea_pan.json").read_text())
    assert (sidecar["layout"], sidecar["shape"]) == ("NCTHW", [1, 3, 16, 112, 112])
    assert sidecar["image"].endswith("chelsea_pan.mp4") and sidecar["clip_len"] == 16
    deployments = json.loads((workdir / comparison).read_text())["deployments"]
    assert set(deployments) == {f"{r}/plain" for r in RUNTIMES}
    assert all(d["error"] is None and d["summary"]["median_ms"] > 0 for d in deployments.values()), deployments
    record = json.loads((workdir / parity).read_text())
    checked = {(c["runtime"], c["reference"]) for c in record["comparisons"]}
    assert checked == {
        ("ts-python", "eager"),
        ("ts-cpp", "ts-python/plain"),
        ("onnxruntime", "eager"),
        ("openvino-python", "eager"),
    }
    assert all(c["within_tolerance"] and c["discriminates"] for c in record["comparisons"]), record["comparisons"]
    prediction = f"results/runs/{RUN}/predictions/cpu/ts-cpp/plain/{model}.json"
    (result,) = json.loads((workdir / prediction).read_text())["results"]
    assert len(result["logits"]) == info.num_classes == 400 and len(result["topk"]) == 5


def test_a_bad_clip_fails_its_preprocessing_naming_the_file(tmp_path):
    workdir = copy_workflow(tmp_path)
    clips = workdir / "data" / "clips"
    (clips / "broken.mp4").write_bytes((clips / "chelsea_pan.mp4").read_bytes()[:3000])
    # swin3d_t takes 32 frames: a frame folder of 3 is too short.
    (clips / "three_frames").mkdir()
    for index in range(3):
        shutil.copy(workdir / "data" / "images" / "chelsea_cat.png", clips / "three_frames" / f"{index:03d}.png")
    spec = CATALOG["swin3d_t"].spec_id
    for clip, message in (("broken", "broken.mp4"), ("three_frames", "three_frames has 3 frames; a clip of 32")):
        target = f"results/inputs/{spec}/{clip}.dat"
        done = snakemake(workdir, target, "--config", "models=[swin3d_t]", check=False)
        assert done.returncode != 0
        log = (workdir / "results" / "logs" / "preprocess_image" / spec / f"{clip}.log").read_text()
        assert message in log, log
        assert not (workdir / target).exists() and not (workdir / target).with_suffix(".json").exists()


def one_more_model_through_the_workflow(run_dir, tmp_path, model: str, config=(), tables=True):
    """A copy of the finished tiny run with ``model`` added, through its comparison, its parity and
    the tables (over the tiny run's models and this one: with the tiny models first, the
    harness-overhead probes keep their input, the first model's, and are not measured again).
    Its comparison is kept short (the tiny run's are not measured again): blocks of 2 calls after
    one warm-up call, and the workers started once, not twice (a TorchScript RAFT worker takes
    ~20 s to load and warm up on 2 cores, a detector's eager call ~3 s). ``config``: more
    ``--config`` settings; ``tables``: whether the tables are made too. Returns the copy."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    tiny = yaml.safe_load((workdir / "config" / "tiny.yaml").read_text())
    tiny["bench"].update(
        warmup_iters=1, warmup_max_time_s=1.0, min_iters=2, max_iters=3, min_time_s=0.1, max_time_s=1.0
    )
    tiny["compare"]["launches"] = 1
    (workdir / "config" / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    targets = (
        f"results/runs/{RUN}/compare/cpu/b1/{model}.json",
        f"results/runs/{RUN}/parity/cpu/{model}.json",
        *(["results/tables/deployability.csv"] if tables else []),
    )
    start = time.monotonic()
    models = ",".join([*MODELS, model])
    snakemake(workdir, *targets, "--rerun-triggers", "mtime", "--config", f"models=[{models}]", *config)
    print(f"{model} through the workflow took {time.monotonic() - start:.0f} s")
    return workdir


# The shipped images' ImageNet classes: tabby cat, coffee mug, space shuttle (a rocket: no class).
IMAGE_CLASSES = {"chelsea_cat": "n02123045", "coffee_cup": "n03063599", "falcon9_rocket": "n04266014"}


def test_a_labeled_images_folder_gives_every_classifier_deployment_its_accuracy(run_dir, tmp_path):
    """The shipped images laid out as ImageNet's validation set, in a copy of the finished run:
    the same files (their times kept, so nothing upstream reruns under the mtime trigger), only
    the tables made again. Every classifier deployment gets acc@1 and acc@5 on the three images
    from its own predictions; with random weights none is judged, and the tables say so."""
    workdir = tmp_path / "copy"
    shutil.copytree(run_dir, workdir, symlinks=True)
    for name, wnid in IMAGE_CLASSES.items():
        (workdir / "data" / "labeled" / wnid).mkdir(parents=True)
        image = next((workdir / "data" / "images").glob(f"{name}.*"))
        shutil.copy2(image, workdir / "data" / "labeled" / wnid / image.name)
    done = snakemake(
        workdir, "results/summary.md", "--rerun-triggers", "mtime", "--forcerun", "aggregate",
        "--config", "images=data/labeled",
    )  # fmt: skip
    ran = planned_jobs(done.stdout + done.stderr)
    assert set(ran) <= {"aggregate", "summary", "all"}, ran
    accuracy = table(workdir, "accuracy.csv")
    predictions = table(workdir, "predictions.csv")
    # Classifiers only: a segmentation model ranks per-pixel classes, which no label names.
    classified = predictions[predictions["model"].isin(CLASSIFIERS)]
    deployments = set(zip(classified["model"], classified["runtime"], classified["variant"], strict=True))
    assert set(zip(accuracy["model"], accuracy["runtime"], accuracy["variant"], strict=True)) == deployments
    assert set(accuracy["model"]) == set(CLASSIFIERS) and (accuracy["images"] == len(IMAGE_CLASSES)).all()
    # Recomputed from the predictions: the share of images whose class came first.
    first = classified[classified["rank"] == 1].set_index(["model", "runtime", "variant", "image"])["class_index"]
    labels = {"chelsea_cat": 281, "coffee_cup": 504, "falcon9_rocket": 812}
    for row in accuracy.itertuples():
        hits = [first[(row.model, row.runtime, row.variant, image)] == label for image, label in labels.items()]
        assert row.acc1 == pytest.approx(sum(hits) / len(hits))
    assert accuracy["acc5"].between(0, 1).all() and accuracy["accurate_enough"].isna().all()
    summary = (workdir / "results" / "summary.md").read_text()
    assert "## Accuracy\n" in summary and "acc@1 / acc@5" in summary and "Not judged (weights not pretrained" in summary
    assert (
        "accurate enough: acc@1 at least 99% of float32 eager's" in (workdir / "results/tables/latency.md").read_text()
    )
    # The run without labels (the fixture's) wrote the table empty.
    assert table(run_dir, "accuracy.csv").empty


def test_an_optical_flow_model_through_the_workflow(run_dir, tmp_path):
    """RAFT (random weights) in a copy of the finished run: the shipped pair preprocessed to one
    NCHW .dat per argument, no labels file, every default runtime that deploys it measured and
    checked against its reference by end-point error on a discriminating flow, C++ included; the
    dynamo ONNX export, which torch.export's batch specialisation breaks, recorded with its
    upstream issue while the run goes on."""
    model = "raft_small"  # the smaller RAFT (1 M parameters), 12 refinement steps on 192 x 256
    spec = CATALOG[model].spec_id
    workdir = one_more_model_through_the_workflow(run_dir, tmp_path, model)
    comparison = f"results/runs/{RUN}/compare/cpu/b1/{model}.json"
    parity = f"results/runs/{RUN}/parity/cpu/{model}.json"
    for index, argument in enumerate(("image1", "image2"), start=1):
        sidecar = json.loads((workdir / "results" / "inputs" / spec / f"chelsea_pan.{argument}.json").read_text())
        assert (sidecar["layout"], sidecar["shape"]) == ("NCHW", [1, 3, 192, 256])
        assert sidecar["image"].endswith(f"chelsea_pan_{index}.png") and sidecar["input"] == "chelsea_pan"
    # A flow names no classes: no labels file was written or asked for.
    assert not (workdir / "results" / "labels" / f"{model}.txt").exists()
    onnx_build = json.loads((workdir / "results" / "builds" / "onnx" / f"{model}.json").read_text())
    assert (onnx_build["status"], onnx_build["error_class"]) == ("failed", "export error"), onnx_build
    assert "pytorch#155550" in onnx_build["upstream"], onnx_build
    deployments = json.loads((workdir / comparison).read_text())["deployments"]
    onnx = deployments.pop("onnxruntime/plain")
    assert "the onnx artifact was not built (export error)" in onnx["error"] and not onnx["blocks"]
    assert set(deployments) == {"eager/plain", "ts-python/plain", "ts-cpp/plain", "openvino-python/plain"}
    assert all(d["error"] is None and d["summary"]["median_ms"] > 0 for d in deployments.values()), deployments
    record = json.loads((workdir / parity).read_text())
    checked = {(c["runtime"], c["reference"]) for c in record["comparisons"]}
    assert checked == {("ts-python", "eager"), ("ts-cpp", "ts-python/plain"), ("openvino-python", "eager")}
    assert all(c["within_tolerance"] and c["discriminates"] for c in record["comparisons"]), record["comparisons"]
    for c in record["comparisons"]:
        print(f"{c['runtime']} vs {c['reference']}: mean EPE {c['mean_epe']:.2e} px, max {c['max_epe']:.2e} px")
    assert [u["runtime"] for u in record["unavailable"]] == ["onnxruntime"]
    prediction = f"results/runs/{RUN}/predictions/cpu/ts-cpp/plain/{model}.json"
    (result,) = json.loads((workdir / prediction).read_text())["results"]
    assert result["flow_shape"] == [2, 192, 256] and result["inputs"][1].endswith("chelsea_pan.image2.dat")
    # The matrix says why ONNX Runtime cannot run it, and the parity table holds its EPEs.
    deployability = table(workdir, "deployability.csv").set_index(["model", "runtime"])
    failure = deployability.loc[(model, "onnxruntime")]
    assert failure["status"] == "failed" and "pytorch#155550" in failure["detail"], failure.to_dict()
    assert (deployability.loc[model, "status"] == "ok").sum() == 4
    parity_rows = table(workdir, "parity.csv").set_index(["model", "runtime"]).loc[model]
    assert (parity_rows["max_epe"] >= parity_rows["mean_epe"]).all() and parity_rows["verdict"].eq("agrees").all()
    assert set(table(workdir, "predictions.csv").query("model == @model")["image"]) == {"chelsea_pan"}


def test_a_bad_pair_fails_its_preprocessing_naming_the_file(tmp_path):
    from PIL import Image

    workdir = copy_workflow(tmp_path)
    pairs = workdir / "data" / "pairs"
    shutil.copy(pairs / "chelsea_pan_1.png", pairs / "odd_1.png")
    Image.open(pairs / "chelsea_pan_2.png").crop((0, 0, 248, 192)).save(pairs / "odd_2.png")
    spec = CATALOG["raft_small"].spec_id
    targets = [f"results/inputs/{spec}/odd.{argument}.dat" for argument in ("image1", "image2")]
    done = snakemake(workdir, targets[0], "--config", "models=[raft_small]", check=False)
    assert done.returncode != 0
    log = (workdir / "results" / "logs" / "preprocess_pair" / spec / "odd.log").read_text()
    assert "odd_1.png is 256×192" in log and "odd_2.png is 248×192" in log, log
    for target in targets:
        assert not (workdir / target).exists() and not (workdir / target).with_suffix(".json").exists()


INT8_RUNTIMES = ("onnxruntime", "openvino-python")


def test_int8_through_the_workflow_where_the_cpu_has_it(run_dir, tmp_path):
    """squeezenet1_0 with the int8 variant in a copy of the finished run. On a CPU with native
    int8 (VNNI, AMX): the float32 ONNX and IR quantized (QDQ, FakeQuantize), calibrated on the
    three shipped images with their hashes recorded, ONNX Runtime and OpenVINO run them in the
    comparison beside float32 with paired ratios, and parity against float32 eager gives their
    agreement. Elsewhere: the run says why int8 is skipped and plans no int8 job."""
    from tvdeploy.host.devices import read_cpu_flags
    from tvdeploy.registry.precisions import skip_reason

    model, config = "squeezenet1_0", ("variants=[plain,int8]",)
    reason = skip_reason("int8", "cpu", read_cpu_flags())
    if reason:
        workdir = tmp_path / "copy"
        shutil.copytree(run_dir, workdir, symlinks=True)
        done = snakemake(workdir, "-n", "--config", f"models=[{model}]", *config)
        assert "variant int8 skipped on the CPU: int8 is not native on this CPU" in done.stdout + done.stderr
        assert "quantize_artifact" not in planned_jobs(done.stdout)
        return
    workdir = one_more_model_through_the_workflow(run_dir, tmp_path, model, config, tables=False)
    images = ["chelsea_cat", "coffee_cup", "falcon9_rocket"]
    for kind, operation in (("onnx", "QuantizeLinear"), ("openvino", "FakeQuantize")):
        build = json.loads((workdir / "results" / "builds" / kind / "int8" / f"{model}.json").read_text())
        assert build["status"] == "ok" and build["variant"] == "int8", build
        assert [call[0]["dat"] for call in build["calibration"]["inputs"]] == [f"{i}.dat" for i in images]
        artifact = workdir / "results" / kind / "int8" / model / build["file"]
        assert operation in artifact.read_text(errors="ignore"), f"no {operation} in {artifact}"
    record = json.loads((workdir / f"results/runs/{RUN}/compare/cpu/b1/{model}.json").read_text())
    int8 = {f"{r}/int8" for r in INT8_RUNTIMES}
    assert int8 <= set(record["deployments"])
    assert all(record["deployments"][d]["summary"]["median_ms"] > 0 for d in int8), record["deployments"]
    int8_pairs = [(c["kind"], c["candidate"].split("/")) for c in record["comparisons"]]
    judged = {(kind, runtime) for kind, (runtime, variant) in int8_pairs if variant == "int8"}
    assert {("vs_eager", r) for r in INT8_RUNTIMES} | {("vs_plain", r) for r in INT8_RUNTIMES} <= judged
    parity = json.loads((workdir / f"results/runs/{RUN}/parity/cpu/{model}.json").read_text())
    rows = [c for c in parity["comparisons"] if c["variant"] == "int8"]
    assert {(r["runtime"], r["reference"]) for r in rows} == {(r, "eager") for r in INT8_RUNTIMES}
    assert len(rows) == 2 * len(images) and all(r["discriminates"] for r in rows)
    # int8 moves the logits by a few percent of their scale; random weights keep the top class.
    assert all(0 < r["relative_diff"] < 0.2 for r in rows), [r["relative_diff"] for r in rows]
    assert sum(r["top1_match"] for r in rows) >= len(rows) - 1, rows
    assert all(r["top5_overlap"] >= 0.6 for r in rows), rows


def test_a_detector_through_the_workflow(run_dir, tmp_path):
    """The 320-pixel Faster R-CNN (random weights, calibrated, score threshold 0) in a copy of the
    finished run: each image preprocessed to one CHW .dat of its own size, the COCO labels file as
    the weights list them, compared at batch 1 alone; eager, TorchScript in Python and C++ (with
    torchvision's operator library, recorded), ONNX Runtime (the TorchScript-based ONNX exporter,
    the dynamo one's failure recorded with its upstream issues) and OpenVINO measured; parity by
    matching on discriminating detections; the tables over the tiny run's models and this one."""
    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    workdir = one_more_model_through_the_workflow(run_dir, tmp_path, model)
    check_detector_results(workdir, model)


def check_detector_results(workdir, model):
    """What a run of the 320-pixel Faster R-CNN (random weights, seed 0) writes, checked."""
    from PIL import Image

    spec = CATALOG[model].spec_id
    comparison = f"results/runs/{RUN}/compare/cpu/b1/{model}.json"
    parity = f"results/runs/{RUN}/parity/cpu/{model}.json"
    for image in ("chelsea_cat", "coffee_cup", "falcon9_rocket"):
        sidecar = json.loads((workdir / "results" / "inputs" / spec / f"{image}.json").read_text())
        width, height = Image.open(sidecar["image"]).size
        assert (sidecar["layout"], sidecar["shape"]) == ("CHW", [3, height, width]), sidecar
    # COCO's categories as the weights list them, '__background__' and 'N/A' included.
    labels = (workdir / "results" / "labels" / f"{model}.txt").read_text().splitlines()
    assert (len(labels), labels[0], labels[12], labels[17]) == (91, "__background__", "N/A", "cat")
    onnx_build = json.loads((workdir / "results" / "builds" / "onnx" / f"{model}.json").read_text())
    assert (onnx_build["status"], onnx_build["exporter"]) == ("ok", "torchscript"), onnx_build
    (dynamo,) = onnx_build["failed_attempts"]
    assert dynamo["upstream"] == ["vision#9306", "vision#9462", "pytorch#118884"], dynamo
    assert onnx_build["input_shapes"] == {"image": [3, "height", "width"]}
    openvino_build = json.loads((workdir / "results" / "builds" / "openvino" / f"{model}.json").read_text())
    assert openvino_build["status"] == "ok" and openvino_build["input_shapes"] == ["[3,?,?]"], openvino_build
    deployments = json.loads((workdir / comparison).read_text())["deployments"]
    assert set(deployments) == {f"{r}/plain" for r in RUNTIMES}
    assert all(d["error"] is None and d["summary"]["median_ms"] > 0 for d in deployments.values()), deployments
    # The C++ programs loaded torchvision's operator library and say which.
    ops = deployments["ts-cpp/plain"]["ready"]["torchvision_ops"]
    assert ops["library"].endswith("_C_stable.so") and ops["version"], ops
    prediction = f"results/runs/{RUN}/predictions/cpu/ts-cpp/plain/{model}.json"
    record = json.loads((workdir / prediction).read_text())
    assert record["torchvision_ops"] == ops
    assert [len(r["detections"]) for r in record["results"]] == [100, 100, 100]
    assert {d["category"] for r in record["results"] for d in r["detections"]} <= set(labels)
    # Parity by matching, every image's detections discriminating. C++ reproduces TorchScript in
    # Python exactly. The scripted transform resizes coffee_cup and falcon9_rocket one pixel
    # smaller than eager (a float32 scale, pytorch#58234): eager records its detections at that
    # resize too, and TorchScript agrees with them there. OpenVINO keeps every detection (not
    # every box: IoU 0.5 on a sub-pixel-thin box).
    checks = json.loads((workdir / parity).read_text())["comparisons"]
    # TorchScript agrees exactly, so each of its images discriminates. A peer's image need not:
    # where eager's own detections at another thread count moved (this random-weight two-stage
    # detector's near-tied proposals swap), only a gross difference counts, and the row says so.
    assert all(c["discriminates"] for c in checks if c["runtime"] in ("ts-python", "ts-cpp")), checks
    assert all(c["discriminates"] or c["moves_with_threads"] for c in checks), checks
    eager = json.loads((workdir / f"results/runs/{RUN}/predictions/cpu/eager/plain/{model}.json").read_text())
    assert [len(r["other_threads_detections"]) for r in eager["results"]] == [100, 100, 100]
    verdicts = {(c["runtime"], c["image"]): c["within_tolerance"] for c in checks}
    for c in checks:
        print(
            f"{c['runtime']} vs {c['reference']} on {c['image']}: matched {c['matched_fraction']:.0%}, "
            f"smallest IoU {c['min_matched_iou']:.4f}, score |Δ| {c['max_score_diff']:.2e}, "
            f"resized as {c.get('resized_as', 'eager (no other)')}"
        )
    images = ("chelsea_cat", "coffee_cup", "falcon9_rocket")
    assert all(verdicts[("ts-cpp", i)] for i in images)
    ts_python = {c["image"]: c for c in checks if c["runtime"] == "ts-python"}
    assert all(ts_python[i]["within_tolerance"] for i in images), ts_python
    assert [ts_python[i].get("resized_as") for i in images] == [None, "scripted", "scripted"], ts_python
    assert ts_python["coffee_cup"]["scripted_resized"] == [319, 479]
    openvino = [c for c in checks if c["runtime"] == "openvino-python"]
    assert len(openvino) == 3 and all(c["matched_fraction"] == 1 for c in openvino), openvino
    # The tables render the detector's rows: its detections, its matching, its matrix row.
    deployability = table(workdir, "deployability.csv").set_index(["model", "runtime"]).loc[model]
    assert deployability.loc["ts-cpp", "status"] == "ok" and deployability.loc["eager", "status"] == "ok"
    assert deployability.loc["ts-python", "status"] == "ok"
    # A deployment that misses parity says how far in words (OpenVINO's sub-pixel-thin box above).
    missed = deployability[deployability["status"] == "parity failed"]
    assert all("detections matched" in detail for detail in missed["detail"]), missed
    parity_rows = table(workdir, "parity.csv").set_index(["model", "runtime"]).loc[model]
    assert parity_rows.loc["ts-cpp", "verdict"] == PARITY_AGREES and parity_rows.loc["ts-cpp", "min_matched_iou"] == 1
    assert parity_rows.loc["ts-python", "verdict"] == PARITY_AGREES
    assert parity_rows.loc["ts-python", "images_at_scripted_resize"] == 2
    predictions = table(workdir, "predictions.csv").query("model == @model")
    assert set(predictions["image"]) == set(images) and predictions["score"].between(0, 1).all()


def test_a_detectors_bad_image_fails_its_preprocessing_and_gray_or_rgba_is_converted(tmp_path):
    """A detector's images through rule preprocess_image: an empty file, a truncated JPEG and an
    image far beyond every detector's resize each fail their job with a log naming the file and
    nothing written; a grayscale, an RGBA and a palette image become three-channel CHW images of
    their own size."""
    from PIL import Image

    workdir = copy_workflow(tmp_path)
    images = workdir / "data" / "images"
    (images / "empty.png").write_bytes(b"")
    (images / "broken.jpg").write_bytes((images / "falcon9_rocket.jpg").read_bytes()[:2000])
    Image.open(images / "chelsea_cat.png").convert("L").save(images / "gray.png")
    Image.open(images / "chelsea_cat.png").convert("RGBA").save(images / "rgba.png")
    Image.open(images / "chelsea_cat.png").convert("P").save(images / "palette.png")
    Image.new("RGB", (12000, 16)).save(images / "huge.png")
    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    spec = CATALOG[model].spec_id
    names = ("empty", "broken", "huge", "gray", "rgba", "palette")
    targets = {name: f"results/inputs/{spec}/{name}.dat" for name in names}
    done = snakemake(workdir, *targets.values(), "--keep-going", "--config", f"models=[{model}]", check=False)
    assert done.returncode != 0
    for name, message in (
        ("empty", f"cannot read image {images / 'empty.png'}"),
        ("broken", f"cannot read image {images / 'broken.jpg'}"),
        ("huge", f"image {images / 'huge.png'} is 12000 x 16 pixels"),
    ):
        log = (workdir / "results" / "logs" / "preprocess_image" / spec / f"{name}.log").read_text()
        assert message in log, log
        target = workdir / targets[name]
        assert not target.exists() and not target.with_suffix(".json").exists()
    width, height = Image.open(images / "chelsea_cat.png").size
    for name in ("gray", "rgba", "palette"):
        sidecar = json.loads((workdir / targets[name]).with_suffix(".json").read_text())
        assert (sidecar["layout"], sidecar["shape"]) == ("CHW", [3, height, width]), sidecar


# Per device and batch size (one each in the tiny config): latency, speedup, accuracy; per device:
# throughput, deployability; and for this run alone, per model whose task's outputs are drawn (the
# tiny run's segmenter), its outputs beside the fastest deployment's, which follow the latency table.
FIGURE_JOBS = {
    "plot_latency": 1,
    "plot_speedup": 1,
    "plot_accuracy": 1,
    "plot_throughput": 1,
    "plot_deployability": 1,
    "summary": 1,
}
OUTPUT_PICTURE_JOBS = {"plot_outputs": sum(TASKS[CATALOG[model].task].output_picture for model in MODELS)}


def test_forcerun_aggregate_rebuilds_tables_without_measuring(run_dir):
    jobs = planned_jobs(snakemake(run_dir, "-n", "--forcerun", "aggregate").stdout)
    assert jobs == {"aggregate": 1, **FIGURE_JOBS, **OUTPUT_PICTURE_JOBS, "all": 1}


def test_profile_of_a_model_on_request(run_dir):
    target = f"results/runs/{RUN}/profile/cpu/squeezenet1_1.md"
    assert planned_jobs(snakemake(run_dir, "-n", target).stdout) == {"profile_ops": 1}
    snakemake(run_dir, target)
    page = (run_dir / target).read_text()
    assert "torch.profiler over" in page and "float32 matmul peak measured just before" in page
    rows = {
        cells[0]: cells
        for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in page.splitlines())
        if cells and cells[0] in ("pointwise conv (1x1)", "other conv", "everything else")
    }
    # squeezenet1_1: 1x1 squeeze and expand convolutions beside 3x3 ones; every FLOP counted once
    # (torchvision's metadata counts multiply-adds: 0.349 G).
    assert set(rows) == {"pointwise conv (1x1)", "other conv", "everything else"}
    gflop = sum(float(rows[k][2]) for k in ("pointwise conv (1x1)", "other conv"))
    assert 0.9 * 2 * 0.349 < gflop < 1.1 * 2 * 0.349
    assert "aten::" in rows["everything else"][-1]


def test_editing_cpp_bench_reruns_only_the_cpp_chain(run_dir):
    assert "Nothing to be done" in snakemake(run_dir, "-n").stdout
    bench_source = run_dir / "cpp" / "src" / "bench.cpp"
    # A real edit: Snakemake ignores a newer mtime when the content checksum is unchanged.
    original = bench_source.read_text()
    bench_source.write_text(original + "\n// an edit\n")
    try:
        jobs = planned_jobs(snakemake(run_dir, "-n").stdout)
    finally:
        bench_source.write_text(original)  # the module's other tests use this run
    # The comparisons (whose ratios depend on bench) re-run; exports, preprocessing, inference
    # and parity do not.
    assert jobs == {
        "build_cpp": 1,  # bench only
        "compare": len(MODELS),
        "harness_overhead": 1,  # only the C++ harness's probe
        "aggregate": 1,
        **FIGURE_JOBS,
        **OUTPUT_PICTURE_JOBS,
        "all": 1,
    }


def test_one_models_result_runs_only_its_chain(tmp_path):
    workdir = copy_workflow(tmp_path)
    target = f"results/runs/{RUN}/compare/cpu/b1/squeezenet1_1.json"
    jobs = planned_jobs(snakemake(workdir, "-n", target).stdout)
    assert jobs == {
        "download_weights": 1,
        "export_torchscript": 1,
        "preprocess_image": 1,  # the benchmark image only
        "build_cpp": 1,  # bench only
        "export_onnx": 1,
        "convert_openvino": 1,
        "compare": 1,
    }


def test_unknown_model_stops_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path)
    done = snakemake(workdir, "--config", "models=[resnet05]", check=False)
    assert done.returncode != 0
    assert "resnet05" in done.stderr and "resnet50" in done.stderr
    assert not (workdir / "results").exists()


def test_unknown_model_in_a_target_names_the_closest(tmp_path):
    workdir = copy_workflow(tmp_path)
    done = snakemake(workdir, "-n", f"results/runs/{RUN}/compare/cpu/b1/resnet05.json", check=False)
    output = done.stdout + done.stderr  # a dry run reports job errors on stdout
    assert done.returncode != 0 and "'resnet05' (closest: resnet50" in output


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
@pytest.mark.parametrize(
    "target, log",
    [
        (
            f"results/runs/{RUN}/predictions/cuda/ts-python/plain/squeezenet1_1.json",
            "results/logs/infer_python/cuda/ts-python/plain/squeezenet1_1.log",
        ),
        (
            f"results/runs/{RUN}/predictions/cuda/ts-cpp/plain/squeezenet1_1.json",
            "results/logs/infer_cpp/cuda/ts-cpp/plain/squeezenet1_1.log",
        ),
    ],
)
def test_cuda_without_gpu_is_a_clear_error(run_dir, target, log):
    done = snakemake(run_dir, target, check=False)
    assert done.returncode != 0
    assert "device 'cuda' requested but no CUDA device is available" in (run_dir / log).read_text()
    assert not (run_dir / target).exists()


def test_figures_and_summary_of_the_run(run_dir):
    from PIL import Image

    plots = run_dir / "results" / "plots" / RUN / "cpu"
    for figure in ["latency", "speedup", "accuracy_vs_latency"]:
        with Image.open(plots / "b1" / f"{figure}.png") as image:
            assert image.size[0] > 600
    for figure in ["throughput", "deployability"]:
        assert (plots / f"{figure}.png").stat().st_size > 5000
    assert not (run_dir / "results" / "plots" / "runs_b1.png").exists()  # one run: nothing side by side
    summary = (run_dir / "results" / "summary.md").read_text()
    assert f"## {RUN} · cpu, batch 1" in summary and "Pareto front" in summary
    assert all(model in summary for model in MODELS)


def test_the_readme_figure_comes_from_the_run(run_dir):
    jobs = planned_jobs(snakemake(run_dir, "-n", "docs/generated/accuracy_vs_latency.png").stdout)
    assert jobs == {"readme_figure": 1}


def copy_in_as_another_run(run_dir, other: str, device: str) -> None:
    """This run's raw results, relabelled as if measured by machine ``other`` on ``device``."""
    source = run_dir / "results" / "runs" / RUN
    for path in source.rglob("*.json"):
        relative = path.relative_to(source).as_posix().replace("/cpu/", f"/{device}/")
        target = run_dir / "results" / "runs" / other / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        record = json.loads(path.read_text())
        if "device" in record:
            record["device"] = device
        for check in record.get("comparisons", []):
            if "device" in check:
                check["device"] = device
        target.write_text(json.dumps(record))


def test_another_machines_run_copied_in_is_compared_without_measuring(run_dir):
    # In the module's run itself (a copy elsewhere would re-run everything: rules name some
    # inputs by absolute path); the run is put back as it was at the end.
    merged = run_dir
    copy_in_as_another_run(merged, "gpu01", "cuda")
    try:
        check_merged_run(merged)
    finally:
        shutil.rmtree(merged / "results" / "runs" / "gpu01")
        shutil.rmtree(merged / "results" / "plots" / "gpu01", ignore_errors=True)
        (merged / "results" / "plots" / "runs_b1.png").unlink(missing_ok=True)
        snakemake(merged)
    assert not (merged / "results" / "plots" / "runs_b1.png").exists()
    assert set(table(merged, "latency.csv")["run"]) == {RUN}


def check_merged_run(merged):
    jobs = planned_jobs(snakemake(merged, "-n").stdout)
    # Only tables, figures and the summary: the copied-in run matches no measuring rule. Its
    # figures are drawn beside this run's; the outputs are drawn for this run's own records alone.
    assert jobs == {
        "aggregate": 1,
        **{rule: 2 if rule.startswith("plot_") else 1 for rule in FIGURE_JOBS},
        **OUTPUT_PICTURE_JOBS,
        "plot_runs": 1,
        "all": 1,
    }
    snakemake(merged)
    latency = table(merged, "latency.csv")
    assert set(zip(latency["run"], latency["device"], strict=True)) == {(RUN, "cpu"), ("gpu01", "cuda")}
    assert set(table(merged, "parity.csv")["run"]) == {RUN, "gpu01"}
    assert (merged / "results" / "plots" / "gpu01" / "cuda" / "b1" / "latency.png").exists()
    assert (merged / "results" / "plots" / "runs_b1.png").stat().st_size > 5000
    summary = (merged / "results" / "summary.md").read_text()
    assert "## gpu01 · cuda, batch 1" in summary and f"- run {RUN} · cpu (this run)" in summary
    # Rebuilding everything from the raw results of both runs measures nothing.
    jobs = planned_jobs(snakemake(merged, "-n", "--forcerun", "aggregate").stdout)
    assert "compare" not in jobs and jobs["aggregate"] == 1 and jobs["plot_runs"] == 1


# Injected into a copy of the report: record uncaught errors from the start, and once the page has
# loaded, decode every embedded PNG the way the report shows it (an <img> of its data URI) and
# write what loaded into the DOM, where --dump-dom can read it.
BROWSER_CHECK_HEAD = """<script>
window.tvdeployErrors = [];
window.addEventListener("error", (event) => window.tvdeployErrors.push(String(event.message)));
</script>"""
BROWSER_CHECK_BODY = """<script>
window.addEventListener("load", async () => {
  const figures = Object.entries(results).filter(([path]) => path.endsWith(".png"));
  const loaded = await Promise.all(figures.map(([path, entry]) => new Promise((resolve) => {
    const image = new Image();
    image.onload = () => resolve([path, image.naturalWidth, image.naturalHeight]);
    image.onerror = () => resolve([path, 0, 0]);
    image.src = entry.data_uri;
  })));
  const out = document.createElement("pre");
  out.id = "tvdeploy-check";
  out.textContent = JSON.stringify({loaded: loaded, errors: window.tvdeployErrors});
  document.body.appendChild(out);
});
</script>"""


def test_html_report_renders_in_a_browser(run_dir, tmp_path):
    snakemake(run_dir, "--report", "results/report.html")
    report = run_dir / "results" / "report.html"
    assert report.stat().st_size > 100_000
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get(REQUIRE_BROWSER_ENV):
            pytest.fail(f"{REQUIRE_BROWSER_ENV} is set but chromium is not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    headless = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                "--window-size=1400,1800"]  # fmt: skip
    html = report.read_text()
    checked = tmp_path / "report_checked.html"
    # The page's own <head> comes first and its </body> last (the scripts inside mention both).
    before, _, after = html.rpartition("</body>")
    checked.write_text(
        (before + BROWSER_CHECK_BODY + "</body>" + after).replace("<head>", "<head>" + BROWSER_CHECK_HEAD, 1)
    )
    dom = subprocess.run(
        [*headless, "--dump-dom", checked.as_uri()], capture_output=True, text=True, timeout=180, check=True
    ).stdout
    # The report is a JavaScript application: once it ran, its menu lists the categories.
    for category in ["Latency", "Speedup", "Accuracy vs latency", "Deployability", "Parity", "Environment", "Outputs"]:
        assert category in dom, category
    found = re.search(r'<pre id="tvdeploy-check">(.*?)</pre>', dom, re.S)
    assert found, "the check script did not run: " + dom[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["errors"] == []
    figures = {path: (width, height) for path, width, height in check["loaded"]}
    plots = sorted(p.relative_to(run_dir).as_posix() for p in (run_dir / "results" / "plots").rglob("*.png"))
    # Five figures of the run, and the tiny run's segmenter's outputs drawn.
    assert sorted(figures) == plots and len(plots) == 5 + OUTPUT_PICTURE_JOBS["plot_outputs"]
    assert all(width > 600 and height > 100 for width, height in figures.values()), figures
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [*headless, f"--screenshot={screenshot}", report.as_uri()], capture_output=True, timeout=180, check=True
    )
    from PIL import Image

    with Image.open(screenshot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    # A blank (failed) page has a handful of colours; the rendered report has many.
    assert colours is None or len(colours) > 50


def test_lint_is_clean():
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], check=False, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr
