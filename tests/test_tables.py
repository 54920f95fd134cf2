"""Aggregation logic: speedups, parity rows, prediction rows."""

import math

import pandas as pd
import pytest
from result_helpers import comparison_record

from tvdeploy.results.tables import (
    deployability_markdown,
    deployability_table,
    latency_markdown,
    latency_table,
    parity_table,
    predictions_table,
)
from tvdeploy.tasks.classification import compare_predictions


def test_latency_table_speedups_and_order():
    table = latency_table([comparison_record("m", {"ts-cpp/plain": 5.0, "eager/plain": 10.0, "ts-python/plain": 8.0})])
    assert list(table["runtime"]) == ["eager", "ts-python", "ts-cpp"]
    # Paired over the rounds: the drift cancels, the intervals are tight around the true speedup.
    assert list(table["speedup_vs_eager"]) == pytest.approx([1.0, 1.25, 2.0])
    assert list(table["speedup_ci_low"]) == pytest.approx([1.0, 1.25, 2.0])
    assert list(table["verdict_vs_eager"][1:]) == ["faster", "faster"]
    assert table["rounds"].tolist() == [3, 3, 3] and (table["round_median_spread"] > 0.15).all()
    markdown = latency_markdown(table)
    assert "ts-cpp (plain)" in markdown and "| m " in markdown and "2.00 [2.00, 2.00]" in markdown


def test_failed_deployment_is_a_row_with_its_error_and_no_ratio():
    from tvdeploy.results.tables import ratios_table

    record = comparison_record("m", {"eager/plain": 10.0, "ts-cpp/plain": 5.0}, failed=("ts-cpp/plain",))
    table = latency_table([record])
    failed = table[table["runtime"] == "ts-cpp"].iloc[0]
    assert "exit status -11" in failed["error"] and failed["median_ms"] != failed["median_ms"]  # NaN
    ratios = ratios_table([record])
    assert ratios["verdict"].isna().all() and (ratios["rounds"] == 0).all()


def prediction(logits, image="a"):
    return {
        "results": [
            {
                "input": f"results/inputs/spec/{image}.dat",
                "row": 0,
                "logits": logits,
                "topk": [{"rank": 1, "class_index": 0, "label": "x", "probability": 0.5}],
            }
        ]
    }


def test_compare_predictions_per_image():
    ref = prediction([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    cand = prediction([1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
    rows = compare_predictions(ref, cand, rtol=1e-4, atol=1e-5, identity={"model": "m"})
    assert rows[0]["image"] == "a" and rows[0]["max_abs_diff"] == pytest.approx(0.5)
    assert not rows[0]["within_tolerance"] and rows[0]["top5_match"]
    with pytest.raises(KeyError, match="lack image b"):
        compare_predictions(ref, prediction([0.0] * 6, image="b"), 1e-4, 1e-5, {})


def test_parity_table_takes_the_worst_image():
    comparisons = [
        {
            "model": "m",
            "device": "cpu",
            "runtime": "ts-cpp",
            "variant": "plain",
            "reference": "ts-python/plain",
            "image": img,
            "max_abs_diff": diff,
            "tolerance": 1e-3,
            "logits_max_abs": 5.0,
            "top5_match": match,
            "within_tolerance": diff <= 1e-3,
        }
        for img, diff, match in [("a", 1e-6, True), ("b", 2e-4, False)]
    ]
    # The same check in a run copied in from a cluster, whose weights source is keyed by its run.
    table = parity_table(
        [{"run": "laptop", "comparisons": comparisons}, {"run": "gpu01", "comparisons": comparisons}],
        {"m": "random", ("gpu01", "m"): "pretrained"},
    )
    assert list(table["run"]) == ["gpu01", "laptop"]
    row = table.set_index("run").loc["laptop"]
    assert row["images"] == 2 and row["max_abs_diff"] == 2e-4 and not row["top5_match"]
    assert row["weights_source"] == "random" and row["within_tolerance"]
    assert table.set_index("run").loc["gpu01", "weights_source"] == "pretrained"


def test_predictions_table_rows():
    record = {
        **prediction([0.0]),
        "run": "laptop",
        "model": "m",
        "runtime": "ts-cpp",
        "variant": "plain",
        "device": "cpu",
    }
    table = predictions_table([record], {"m": "pretrained"})
    assert table.to_dict("records") == [
        {
            "run": "laptop",
            "model": "m",
            "image": "a",
            "runtime": "ts-cpp",
            "variant": "plain",
            "device": "cpu",
            "weights_source": "pretrained",
            "rank": 1,
            "class_index": 0,
            "label": "x",
            "probability": 0.5,
        }
    ]


def test_parity_table_without_pairs_is_empty_but_shaped():
    table = parity_table([{"run": "laptop", "comparisons": []}], {})
    assert table.empty and {"run", "model", "runtime", "reference", "max_abs_diff", "top5_match"} <= set(table.columns)


def test_overhead_and_throughput_tables():
    from tvdeploy.measure.bench import summarize_rounds
    from tvdeploy.results.tables import overhead_table, throughput_markdown

    records = [
        {
            "run": "laptop",
            "device": "cpu",
            "threads": 2,
            "runtime": rt,
            "summary": summarize_rounds([{"latencies_ms": [ms, ms, ms]}], 1),
        }
        for rt, ms in [("eager", 0.003), ("ts-python", 0.006), ("ts-cpp", 0.001)]
    ]
    table = overhead_table(records)
    assert list(table["runtime"]) == ["eager", "ts-python", "ts-cpp"]
    assert table["median_us"].tolist() == pytest.approx([3.0, 6.0, 1.0])

    rows = [comparison_record("m", {"eager/plain": 10.0, "ts-cpp/plain": 5.0}, batch=batch) for batch in (1, 8)]
    markdown = throughput_markdown(latency_table(rows))
    assert "laptop · cpu, batch 8: throughput" in markdown and "batch 1" not in markdown
    assert "1600" in markdown and "800" in markdown  # 8 images / 5 ms, 8 images / 10 ms (pooled medians)


def test_deployment_summary_ratio_and_geomean():
    from tvdeploy.results.speedups import geometric_mean
    from tvdeploy.results.tables import deployment_markdown, deployment_summary, ratios_table, verdict_markdown

    records = [
        comparison_record("a", {"eager/plain": 10.0, "ts-python/plain": 8.0, "ts-cpp/plain": 4.0}),
        comparison_record("b", {"eager/plain": 9.0, "ts-python/plain": 9.0, "ts-cpp/plain": 18.0}),
        comparison_record("c", {"eager/plain": 5.0, "ts-python/plain": 6.0, "ts-cpp/plain": 7.0}),
    ]
    table, ratios = latency_table(records), ratios_table(records)
    summary = deployment_summary(table, ratios).set_index("model")
    assert summary.loc["a", "fastest"] == "ts-cpp (plain)" and summary.loc["a", "speedup_vs_eager"] == pytest.approx(
        2.5
    )
    assert summary.loc["b", "fastest"] == "ts-python (plain)" and summary.loc["b", "speedup_vs_eager"] == pytest.approx(
        1
    )
    # Every deployment of c is slower than eager: eager is its fastest deployment.
    assert summary.loc["c", "fastest"] == "eager" and summary.loc["c", "fastest_ms"] == pytest.approx(5.0)
    assert summary.loc["c", "speedup_vs_eager"] == 1.0 and math.isnan(summary.loc["c", "speedup_ci_low"])
    assert summary.loc["a", "cpp/python plain"] == "0.50 [0.50, 0.50]" and summary.loc["a", "verdict plain"] == "faster"
    assert summary.loc["b", "cpp/python plain"] == "2.00 [2.00, 2.00]" and summary.loc["b", "verdict plain"] == "slower"
    assert geometric_mean([2.5, 1.0]) == pytest.approx(2.5**0.5)
    assert "1.36x over 3 models" in deployment_markdown(summary.reset_index())
    counts = verdict_markdown(ratios)
    # Columns faster, indistinguishable, slower. a: both faster than eager, C++ faster than
    # Python; b: Python indistinguishable from eager, C++ slower than both; c: both slower.
    assert "| cross_language |        1 |                   0 |        2 |" in counts
    assert "| vs_eager       |        2 |                   1 |        3 |" in counts


def test_run_wall_time_merges_overlaps_and_drops_interruptions():
    from tvdeploy.results.tables import busy_intervals, run_wall_time

    # Two overlapping jobs (0-10, 5-12), a short scheduling gap, a job 13-20, then the run was
    # stopped for an hour and resumed with one job 3620-3630.
    intervals = [(5.0, 12.0), (0.0, 10.0), (13.0, 20.0), (3620.0, 3630.0)]
    assert busy_intervals(intervals) == [(0.0, 12.0), (13.0, 20.0), (3620.0, 3630.0)]
    wall = run_wall_time(intervals, gap_s=300)
    assert wall["span_s"] == 3630.0
    assert wall["interruptions"] == 1
    assert wall["wall_s"] == 3630.0 - 3600.0  # the 1 s scheduling gap stays in, the hour does not
    assert wall["busy_s"] == 12.0 + 7.0 + 10.0
    with pytest.raises(ValueError, match="nothing ran"):
        run_wall_time([])


def test_tsv_job_interval_ends_at_file_time(tmp_path):
    import os

    from tvdeploy.results.tables import tsv_job_interval

    tsv = tmp_path / "job.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    os.utime(tsv, (1000.0, 1000.0))
    assert tsv_job_interval(tsv) == (987.5, 1000.0)


def test_deployability_matrix_records_build_run_and_parity_failures():
    """A model whose ONNX export failed (recorded by its build, refused at load), one whose
    OpenVINO run failed, one parity miss, one benchmark crash: each is classified, the others stay
    deployed, and the document says which and by how much."""

    def prediction(model, runtime, error=None, error_class=None):
        return {"run": "r", "device": "cpu", "model": model, "runtime": runtime, "variant": "plain",
                "error": error, "error_class": error_class}  # fmt: skip

    predictions = [prediction(m, r) for m in ("resnet18", "swin_t") for r in ("eager", "ts-python")]
    predictions += [
        prediction("resnet18", "onnxruntime"),
        prediction(
            "swin_t", "onnxruntime", "ArtifactUnavailable: the onnx artifact was not built (unsupported operator): "
            "ConversionError: aten::foo", "unsupported operator",
        ),
        prediction("resnet18", "openvino-python"),
        prediction("swin_t", "openvino-python", "RuntimeError: Exception from src/inference", "run error"),
    ]  # fmt: skip
    parity = pd.DataFrame(
        [
            {"run": "r", "device": "cpu", "model": "resnet18", "runtime": "ts-python", "variant": "plain",
             "reference": "eager", "max_abs_diff": 0.5, "tolerance": 0.001, "logits_max_abs": 10.0,
             "top5_match": False, "within_tolerance": False},
        ]
    )  # fmt: skip
    latency = pd.DataFrame(
        [{"run": "r", "device": "cpu", "model": "resnet18", "runtime": "onnxruntime", "variant": "plain",
          "batch_size": 1, "error": "onnxruntime/plain worker for resnet18: exited unexpectedly (exit status -9)"}]
    )  # fmt: skip
    table = deployability_table(predictions, parity, latency)
    state = table.set_index(["model", "runtime"])
    assert state.loc[("swin_t", "onnxruntime"), "status"] == "failed"
    assert state.loc[("swin_t", "onnxruntime"), "error_class"] == "unsupported operator"
    assert state.loc[("swin_t", "openvino-python"), "error_class"] == "run error"
    assert state.loc[("resnet18", "ts-python"), "status"] == "parity failed"
    assert state.loc[("resnet18", "ts-python"), "detail"].startswith("max |Δ| 500× tolerance (0.05 of the logits")
    assert state.loc[("resnet18", "onnxruntime"), "error_class"] == "benchmark: crashed"
    assert state.loc[("swin_t", "ts-python"), "status"] == state.loc[("resnet18", "openvino-python"), "status"] == "ok"
    # Runtimes in registry order, whatever order the records came in.
    assert list(table[table["model"] == "swin_t"]["runtime"]) == [
        "eager",
        "ts-python",
        "onnxruntime",
        "openvino-python",
    ]
    doc = deployability_markdown(table)
    assert "### Deployability — r · cpu" in doc
    swin_row = next(line for line in doc.splitlines() if line.startswith("| swin_t "))
    assert "✗ unsupported operator" in swin_row and "✗ run error" in swin_row and "✓" in swin_row
    assert "≠ parity" in next(line for line in doc.splitlines() if line.startswith("| resnet18 "))
    assert "ConversionError: aten::foo" in doc  # the failures section keeps the error


def test_catalog_rows_show_every_deployment_and_the_fastest(tmp_path):
    from tvdeploy.catalog.sheet import ModelInfo
    from tvdeploy.results.tables import catalog_markdown, ratios_table

    medians = {"eager/plain": 10.0, "ts-cpp/plain": 8.0, "ts-cpp/fused": 4.0, "onnxruntime/plain": 5.0}
    records = [comparison_record("m", medians)]
    info = ModelInfo(
        "m", "classification", "W.V1", "u", "ab", 256, 224, "bilinear", True, (0.5,) * 3, (0.2,) * 3, 2_000_000, 1.5,
        8.0, "acc@1", 70.0, 10,
    )  # fmt: skip
    job = tmp_path / "export.tsv"
    job.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t900\n")
    exports = {"m": {"weights": {"source": "random"}, "export_s": 3.2}}
    parity = pd.DataFrame(columns=["model", "max_abs_diff", "tolerance", "top5_match"])
    doc = catalog_markdown(
        {"m": info}, exports, {"m": job}, {"m": 2000}, latency_table(records), ratios_table(records), parity, "# T"
    )
    header, row = [line for line in doc.splitlines() if line.startswith("| ")][:2]
    cells = dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in row.split("|")), strict=True))
    assert cells["eager cpu (ms)"] == "10" and cells["ts-cpp (plain) cpu (ms)"] == "8"
    assert cells["ts-cpp (fused) cpu (ms)"] == "4" and cells["onnxruntime cpu (ms)"] == "5"
    assert list(cells).index("ts-cpp (plain) cpu (ms)") < list(cells).index("ts-cpp (fused) cpu (ms)")
    assert cells["fastest cpu"] == "ts-cpp (fused)"
    assert cells["fastest cpu: speedup vs eager [95% CI]"] == "2.50 [2.50, 2.50]"
    # Every header is one cell: no "|" inside a column name.
    assert header.count("|") == row.count("|")
