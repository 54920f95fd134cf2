"""The peak probe (tvdeploy.measure.peak): its record on a tiny protocol on this machine's CPU,
reduced precisions skipped with why where the flags say they are not native, and the
theoretical FMA peak from given flags and clock."""

import pytest

from tvdeploy.harnesses import device as harness_device
from tvdeploy.host import devices
from tvdeploy.measure import peak
from tvdeploy.measure.bench import Protocol
from tvdeploy.registry.variants import BF16_CPU_FLAGS

QUICK = Protocol(warmup_iters=1, warmup_max_time_s=1.0, min_iters=3, max_iters=5, min_time_s=0.01, max_time_s=1.0)
SHAPES = [(64, 64, 64), (128, 64, 32)]
CLOCK = (2000.0, "test clock")


def test_probe_record_best_shape_per_precision():
    # int8 native (VNNI), bfloat16 not: whatever this machine's flags, the record follows the given ones.
    result = peak.measure(
        "cpu", threads=1, shapes=SHAPES, protocol=QUICK, flags={"avx512f", "avx512_vnni"}, clock=CLOCK
    )
    assert result["threads"] == 1 and result["error"] is None
    for precision in (peak.FLOAT32, peak.INT8):
        measured = result["precisions"][precision]
        assert [s["shape"] for s in measured["shapes"]] == [list(s) for s in SHAPES]
        assert measured["shapes"][1]["gop"] == pytest.approx(2 * 128 * 64 * 32 / 1e9)
        for shape in measured["shapes"]:
            rates = shape["iterations_gop_per_s"]
            assert 3 <= len(rates) <= 5 and min(rates) <= shape["gop_per_s"] <= max(rates)
        # The peak is the best shape's median, and the float32 one stays where old readers look.
        best = max(measured["shapes"], key=lambda s: s["gop_per_s"])
        assert measured["gop_per_s"] == best["gop_per_s"] and measured["shape"] == best["shape"]
    assert result["gflop_per_s"] == result["precisions"][peak.FLOAT32]["gop_per_s"]
    assert result["theoretical"]["gflop_per_s"] == pytest.approx(1 * 2.0 * 16 * 2 * 2)


def test_reduced_precisions_skipped_with_why_where_not_native(monkeypatch):
    # No flags at all: only float32 runs; the default flags come from the host helper. (Inter-op
    # threads can be set once per process, and the test before has set them.)
    monkeypatch.setattr(peak, "read_cpu_flags", lambda: frozenset({"sse2"}))
    monkeypatch.setattr(harness_device, "apply_threads", lambda threads, interop: {"threads": threads})
    result = peak.measure("cpu", threads=1, shapes=SHAPES[:1], protocol=QUICK, clock=CLOCK)
    precisions = result["precisions"]
    assert precisions[peak.FLOAT32]["gop_per_s"] > 0
    for precision in (peak.BFLOAT16, peak.INT8, peak.FLOAT16):
        assert precisions[precision]["gop_per_s"] is None and precisions[precision]["skipped"]
    assert all(flag in precisions[peak.BFLOAT16]["skipped"] for flag in BF16_CPU_FLAGS)
    assert "avx512_vnni" in precisions[peak.INT8]["skipped"]
    assert result["theoretical"]["gflop_per_s"] is None and "avx512f" in result["theoretical"]["skipped"]


def test_native_precisions_follow_the_registry_flags():
    assert peak.skip_reason(peak.BFLOAT16, "cpu", {BF16_CPU_FLAGS[0]}) is None
    assert peak.skip_reason(peak.BFLOAT16, "cpu", {"avx512_vnni"}) is not None
    assert peak.skip_reason(peak.INT8, "cpu", {"avx_vnni"}) is None
    assert peak.skip_reason(peak.FLOAT32, "cpu", set()) is None
    assert all(peak.skip_reason(p, "cuda", set()) is None for p in peak.PRECISIONS)


def test_theoretical_fma_peak_from_flags_and_clock():
    # 2 cores × 2.3 GHz × 16 lanes × 2 FMA units × 2 FLOP = 294.4 GFLOP/s
    avx512 = peak.theoretical_fma_peak(2, 2300.0, "/proc/cpuinfo cpu MHz", {"avx512f", "fma", "avx2"})
    assert avx512["gflop_per_s"] == pytest.approx(294.4)
    assert (avx512["float32_lanes"], avx512["vector_flag"], avx512["fma_units_per_core"]) == (16, "avx512f", 2)
    assert avx512["clock_source"] == "/proc/cpuinfo cpu MHz" and "assumed" in avx512["assumptions"]
    assert peak.theoretical_fma_peak(4, 3000.0, "lscpu CPU max MHz", {"fma"})["gflop_per_s"] == pytest.approx(384.0)
    unclocked = peak.theoretical_fma_peak(2, None, None, {"avx512f"})
    assert unclocked["gflop_per_s"] is None and "clock" in unclocked["skipped"]


def test_clock_prefers_lscpu_max_and_says_where_it_came_from(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\ncpu MHz\t\t: 2300.000\nflags\t\t: fma avx2\n")
    assert devices.cpu_clock_mhz(lambda name: "3700.0000", cpuinfo) == (3700.0, "lscpu CPU max MHz")
    assert devices.cpu_clock_mhz(lambda name: None, cpuinfo) == (2300.0, "/proc/cpuinfo cpu MHz")
    assert devices.cpu_clock_mhz(lambda name: None, tmp_path / "missing") == (None, None)


def test_shape_arguments():
    assert peak.parse_shape("3136x576x64") == (3136, 576, 64) and peak.parse_shape("512") == (512, 512, 512)
    with pytest.raises(Exception, match="MxKxN"):
        peak.parse_shape("3x4")


def test_a_failed_probe_is_recorded_not_raised():
    result = peak.probe("tpu", threads=1)
    assert result["gflop_per_s"] is None and "peak probe failed" in result["error"]
