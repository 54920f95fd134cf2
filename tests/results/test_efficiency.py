"""Efficiency columns (tvdeploy.results.efficiency) from known numbers: each precision judged
against its own measured peak, never above 100 % without the flag, old records still rendered."""

import math

import pytest
from result_helpers import comparison_record

from tvdeploy.results.efficiency import efficiency, efficiency_markdown, peak_of
from tvdeploy.results.frames import latency_table

RESNET50_GMACS = 4.089  # torchvision's _ops for ResNet50_Weights.IMAGENET1K_V2
OLD_PEAK = {"gflop_per_s": 200.0, "error": None}  # a record made before per-precision probes
PEAK = {
    "gflop_per_s": 250.0,
    "error": None,
    "precisions": {
        "float32": {"gop_per_s": 250.0, "shape": [2048, 2048, 2048], "skipped": None, "error": None},
        "bfloat16": {"gop_per_s": 800.0, "shape": [3136, 576, 64], "skipped": None, "error": None},
        "int8": {"gop_per_s": None, "skipped": "int8 is not native on this CPU", "error": None},
    },
    "theoretical": {"gflop_per_s": 294.4, "clock_source": "/proc/cpuinfo cpu MHz"},
}


def test_efficiency_from_known_numbers():
    # 2 × 4.089 GFLOP in 40 ms is 204.45 GFLOP/s: 81.8 % of a 250 GFLOP/s float32 peak.
    row = efficiency(RESNET50_GMACS, 1, 40.0, PEAK)
    assert row["model_gflop"] == pytest.approx(8.178) and row["gflop_per_s"] == pytest.approx(204.45)
    assert row["precision"] == "float32" and row["peak_gflop_per_s"] == 250.0
    assert row["peak_fraction"] == pytest.approx(204.45 / 250.0) and not row["above_peak"]
    assert row["theoretical_gflop_per_s"] == pytest.approx(294.4)
    # A batch of 8 in 400 ms: eight times the work in ten times the time.
    assert efficiency(RESNET50_GMACS, 8, 400.0, PEAK)["gflop_per_s"] == pytest.approx(163.56)
    # No peak measured: the rate stays, the fraction is unknown.
    unmeasured = efficiency(RESNET50_GMACS, 1, 40.0, None)
    assert unmeasured["gflop_per_s"] == pytest.approx(204.45) and math.isnan(unmeasured["peak_fraction"])
    assert not unmeasured["above_peak"]
    assert math.isnan(efficiency(None, 1, 40.0, PEAK)["gflop_per_s"])


def test_reduced_precision_is_judged_against_its_own_peak():
    bf16 = efficiency(RESNET50_GMACS, 1, 20.0, PEAK, variant="bf16")  # 408.9 GFLOP/s
    assert bf16["precision"] == "bfloat16" and bf16["peak_gflop_per_s"] == 800.0
    assert bf16["peak_fraction"] == pytest.approx(408.9 / 800.0) and not bf16["above_peak"]
    assert math.isnan(bf16["theoretical_gflop_per_s"])  # the FMA bound is float32's
    # Without a bfloat16 peak (an old record, or a CPU without native bfloat16): no fraction,
    # rather than one against float32's.
    assert math.isnan(efficiency(RESNET50_GMACS, 1, 20.0, OLD_PEAK, variant="bf16")["peak_fraction"])
    assert (
        peak_of(PEAK, "int8") is None and peak_of(OLD_PEAK, "float32") == 200.0 and peak_of(195.0, "float32") == 195.0
    )


def test_above_one_only_with_the_flag():
    # 204.45 GFLOP/s against a 195 GFLOP/s peak (an old record, a bare number as older callers pass):
    # flagged, and the fraction kept as measured (by how much it beats the yardstick), not clipped.
    for peak in ({"gflop_per_s": 195.0, "error": None}, 195.0):
        row = efficiency(RESNET50_GMACS, 1, 40.0, peak)
        assert row["above_peak"] and row["peak_fraction"] == pytest.approx(204.45 / 195.0)
    assert not efficiency(RESNET50_GMACS, 1, 40.0, 204.45 * 1.01)["above_peak"]
    for median_ms in (10.0, 30.0, 41.0, 41.94, 50.0, 400.0):
        for variant in ("plain", "bf16", "fp16"):
            row = efficiency(RESNET50_GMACS, 1, median_ms, PEAK, variant)
            assert not row["peak_fraction"] > 1 or row["above_peak"], (median_ms, variant)
            assert row["above_peak"] == (row["gflop_per_s"] > row["peak_gflop_per_s"])


def test_latency_rows_and_table_carry_the_peak_per_precision():
    record = comparison_record("resnet50", {"eager/plain": 80.0, "ts-cpp/plain": 40.0, "ts-cpp/bf16": 20.0}, batch=1)
    record["peak"] = PEAK
    table = latency_table([record], {"resnet50": RESNET50_GMACS})
    # Each row against its own precision's peak: bf16 against bfloat16's, never float32's.
    bf16, plain = (table[(table["runtime"] == "ts-cpp") & (table["variant"] == v)].iloc[0] for v in ("bf16", "plain"))
    assert (bf16["precision"], plain["precision"]) == ("bfloat16", "float32")
    assert bf16["peak_gflop_per_s"] != plain["peak_gflop_per_s"]
    markdown = efficiency_markdown(table)
    assert "| resnet50 |" in markdown and "204 (82%)" in markdown and "102 (41%)" in markdown
    assert "409 (51%)" in markdown and "float32 peak GOP/s" in markdown and "bfloat16 peak GOP/s" in markdown
    assert "float32 FMA peak" in markdown and "↑" not in markdown


def test_old_records_still_render_and_flag_rows_above_the_peak():
    record = comparison_record("resnet50", {"eager/plain": 80.0, "ts-cpp/plain": 40.0}, batch=1)
    record["peak"] = {"gflop_per_s": 195.0, "error": None}
    table = latency_table([record], {"resnet50": RESNET50_GMACS}).set_index("runtime")
    assert table.loc["ts-cpp", "gflop_per_s"] == pytest.approx(204.45)
    assert table.loc["ts-cpp", "above_peak"] and not table.loc["eager", "above_peak"]
    assert table.loc["eager", "peak_fraction"] == pytest.approx(102.225 / 195.0)
    markdown = efficiency_markdown(table.reset_index())
    assert "204 (105% ↑)" in markdown and "102 (52%)" in markdown and "↑: faster than" in markdown
    # A table of older code, without the precision columns: float32, flagged all the same.
    older = table.reset_index().drop(columns=["precision", "above_peak", "theoretical_gflop_per_s"])
    assert (
        "204 (105% ↑)" in efficiency_markdown(older)
        and "102 (52%)" in efficiency_markdown(older)
        and "float32 peak GOP/s" in efficiency_markdown(older)
    )


def test_eager_quantized_models_are_judged_against_the_int8_peak():
    int8_peak = {**PEAK, "precisions": {**PEAK["precisions"], "int8": {"gop_per_s": 1000.0, "skipped": None}}}
    # quantized_resnet50 in 10 ms: 817.8 GOP/s, 82 % of the int8 peak (327 % of float32's).
    row = efficiency(RESNET50_GMACS, 1, 10.0, int8_peak, variant="fused", quantized=True)
    assert row["precision"] == "int8" and row["peak_fraction"] == pytest.approx(0.8178) and not row["above_peak"]
    assert math.isnan(row["theoretical_gflop_per_s"])
    # Where the CPU has no native int8 the fraction is unknown, not one against float32's.
    assert math.isnan(efficiency(RESNET50_GMACS, 1, 10.0, PEAK, quantized=True)["peak_fraction"])
    record = comparison_record("quantized_resnet50", {"eager/plain": 10.0, "ts-cpp/plain": 10.0})
    record["peak"] = int8_peak
    table = latency_table([record], {"quantized_resnet50": RESNET50_GMACS}, quantized=["quantized_resnet50"])
    assert table["precision"].tolist() == ["int8", "int8"]
