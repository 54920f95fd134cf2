"""The one selection of a model's fastest deployment that tables, pages and goals share."""

import math

import pandas as pd
import pytest
from result_helpers import comparison_record

from tvdeploy.results.speedups import deployment_summary, fastest_deployments, geometric_mean


def _row(model, runtime, variant, median_ms, speedup, run="r", device="cpu", batch=1):
    return {
        "run": run,
        "device": device,
        "batch_size": batch,
        "model": model,
        "runtime": runtime,
        "variant": variant,
        "median_ms": median_ms,
        "speedup_vs_eager": speedup,
    }


def test_fastest_is_the_largest_paired_speedup_not_the_smallest_median():
    latency = pd.DataFrame(
        [
            _row("a", "eager", "plain", 10.0, None),
            # The smaller median came from a quieter launch; the paired estimate says otherwise.
            _row("a", "ts-cpp", "fused", 6.0, 1.5),
            _row("a", "onnxruntime", "plain", 6.5, 1.7),
            _row("b", "eager", "plain", 4.0, None),
            _row("b", "ts-cpp", "plain", 5.0, 0.8),
            _row("b", "openvino-cpp", "plain", 4.6, 0.9),
            _row("c", "eager", "plain", 3.0, None),
        ]
    )
    best = fastest_deployments(latency).set_index("model")
    assert best.loc["a", "runtime"] == "onnxruntime"
    # Every deployment slower than eager: the best of them, its speedup kept below 1.
    assert best.loc["b", "runtime"] == "openvino-cpp"
    assert best.loc["b", "speedup_vs_eager"] == pytest.approx(0.9)
    # Eager alone: nothing deployed to choose.
    assert "c" not in best.index


def test_fastest_is_chosen_per_run_device_and_batch():
    latency = pd.DataFrame(
        [
            _row("a", "ts-cpp", "plain", 5.0, 1.2, batch=1),
            _row("a", "onnxruntime", "plain", 4.0, 1.4, batch=1),
            _row("a", "ts-cpp", "plain", 30.0, 1.9, batch=8),
            _row("a", "onnxruntime", "plain", 32.0, 1.6, batch=8),
            _row("a", "aoti-cpp", "cudagraphs", 0.4, 5.0, run="gpu", device="cuda"),
        ]
    )
    best = fastest_deployments(latency).set_index(["run", "batch_size"])
    assert len(best) == 3
    assert best.loc[("r", 1), "runtime"] == "onnxruntime"
    assert best.loc[("r", 8), "runtime"] == "ts-cpp"
    assert best.loc[("gpu", 1), "variant"] == "cudagraphs"


def test_geometric_mean():
    assert geometric_mean([2.0, 8.0]) == pytest.approx(4.0)
    assert math.isnan(geometric_mean([]))


def test_deployment_summary_ratio_and_geomean():
    from tvdeploy.results.frames import latency_table, ratios_table
    from tvdeploy.results.markdown import deployment_markdown, verdict_markdown

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


def test_the_fastest_deployment_at_each_precision_and_the_fastest_that_agrees():
    """int8 beats float32 by its paired speedup, but the fastest int8 deployment's outputs missed
    their tolerance: the answer a user takes is the fastest that agreed, at any precision."""
    from tvdeploy.results.frames import latency_table
    from tvdeploy.results.markdown import precision_markdown
    from tvdeploy.results.speedups import ANY_AGREEING, fastest_by_precision

    medians = {"eager/plain": 40.0, "onnxruntime/plain": 20.0, "onnxruntime/int8": 8.0, "openvino-python/int8": 5.0}
    latency = latency_table([comparison_record("resnet50", medians)])
    deployability = pd.DataFrame(
        [
            {"run": "laptop", "device": "cpu", "model": "resnet50", "runtime": r, "variant": v, "status": status}
            for r, v, status in [
                ("eager", "plain", "ok"),
                ("onnxruntime", "plain", "ok"),
                ("onnxruntime", "int8", "ok"),
                ("openvino-python", "int8", "parity failed"),
            ]
        ]
    )
    table = fastest_by_precision(latency, deployability).set_index("precision")
    assert table.loc["float32", ["runtime", "variant", "agrees"]].tolist() == ["onnxruntime", "plain", True]
    assert table.loc["int8", ["runtime", "agrees"]].tolist() == ["openvino-python", False]
    assert table.loc[ANY_AGREEING, ["runtime", "variant"]].tolist() == ["onnxruntime", "int8"]
    assert table.loc[ANY_AGREEING, "speedup_vs_eager"] == pytest.approx(5.0, rel=0.02)
    assert table.loc["int8", "speedup_ci_low"] <= table.loc["int8", "speedup_vs_eager"]
    section = precision_markdown(latency, deployability)
    header, row = [line for line in section.splitlines() if line.startswith("|") and "---" not in line]
    assert [c.strip() for c in header.split("|")[1:-1]] == ["model", "float32", "int8", ANY_AGREEING]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2].startswith("openvino-python (int8) 8") and cells[2].endswith("(outputs did not agree)")
    assert cells[3].startswith("onnxruntime (int8) 5")
    # One precision measured: nothing to add to the fastest-deployment table.
    assert precision_markdown(latency[latency["variant"] == "plain"], deployability) == ""
