"""The one selection of a model's fastest deployment that tables, pages and goals share."""

import math

import pandas as pd
import pytest

from tvdeploy.results.speedups import fastest_deployments, geometric_mean


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
