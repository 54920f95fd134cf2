"""Efficiency columns (tvdeploy.results.efficiency) from known numbers, and the matmul peak probe
(tvdeploy.measure.peak) on this machine's CPU."""

import math

import pytest
from result_helpers import comparison_record

from tvdeploy.measure import peak
from tvdeploy.measure.bench import Protocol
from tvdeploy.results.efficiency import efficiency, efficiency_markdown
from tvdeploy.results.frames import latency_table

RESNET50_GMACS = 4.089  # torchvision's _ops for ResNet50_Weights.IMAGENET1K_V2


def test_efficiency_from_known_numbers():
    # 2 × 4.089 GFLOP in 40 ms is 204.45 GFLOP/s: 104.8 % of a 195 GFLOP/s peak.
    row = efficiency(RESNET50_GMACS, 1, 40.0, 195.0)
    assert row["model_gflop"] == pytest.approx(8.178)
    assert row["gflop_per_s"] == pytest.approx(204.45)
    assert row["peak_fraction"] == pytest.approx(204.45 / 195.0)
    # A batch of 8 in 400 ms: eight times the work in ten times the time.
    assert efficiency(RESNET50_GMACS, 8, 400.0, 195.0)["gflop_per_s"] == pytest.approx(163.56)
    # No peak measured (a record made before the probe existed): the rate stays, the fraction is unknown.
    unmeasured = efficiency(RESNET50_GMACS, 1, 40.0, None)
    assert unmeasured["gflop_per_s"] == pytest.approx(204.45) and math.isnan(unmeasured["peak_fraction"])
    assert math.isnan(efficiency(None, 1, 40.0, 195.0)["gflop_per_s"])


def test_latency_rows_carry_the_jobs_peak():
    record = comparison_record("resnet50", {"eager/plain": 80.0, "ts-cpp/plain": 40.0}, batch=1)
    record["peak"] = {"gflop_per_s": 200.0, "error": None}
    table = latency_table([record], {"resnet50": RESNET50_GMACS}).set_index("runtime")
    assert table.loc["ts-cpp", "gflop_per_s"] == pytest.approx(204.45)
    assert table.loc["eager", "peak_fraction"] == pytest.approx(102.225 / 200.0)
    markdown = efficiency_markdown(table.reset_index())
    assert "| resnet50 |" in markdown and "204 (102%)" in markdown and "102 (51%)" in markdown


def test_peak_probe_records_every_iteration():
    quick = Protocol(warmup_iters=1, warmup_max_time_s=1.0, min_iters=3, max_iters=5, min_time_s=0.01, max_time_s=1.0)
    result = peak.measure("cpu", threads=1, size=256, protocol=quick)
    assert result["size"] == 256 and result["gflop"] == pytest.approx(2 * 256**3 / 1e9)
    assert 3 <= len(result["iterations_gflop_per_s"]) <= 5 and result["threads"] == 1
    assert min(result["iterations_gflop_per_s"]) <= result["gflop_per_s"] <= max(result["iterations_gflop_per_s"])


def test_a_failed_probe_is_recorded_not_raised():
    result = peak.probe("tpu", threads=1)
    assert result["gflop_per_s"] is None and "peak probe failed" in result["error"]
