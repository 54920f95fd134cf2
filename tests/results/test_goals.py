"""Performance goals judged from paired intervals."""

from result_helpers import comparison_record

from tvdeploy.results.frames import latency_table


def test_goals_are_missed_only_where_the_interval_says_so():
    import pandas as pd

    from tvdeploy.results.frames import ratios_table
    from tvdeploy.results.goals import MET, MISSED, UNDECIDED, goals_markdown, judge, judge_goals

    assert judge(1.6, 1.9, 1.5, higher_is_better=True) == MET
    assert judge(1.2, 1.4, 1.5, higher_is_better=True) == MISSED
    assert judge(1.4, 1.6, 1.5, higher_is_better=True) == UNDECIDED
    assert judge(0.9, 1.05, 1.0, higher_is_better=False) == UNDECIDED
    # Within the resolution is not claimed as a miss: 1.001..1.014 against <= 1.0 at 3 %.
    assert judge(1.001, 1.014, 1.0, higher_is_better=False) == MISSED
    assert judge(1.001, 1.014, 1.0, higher_is_better=False, resolution=0.03) == MET
    assert judge(1.05, 1.11, 1.0, higher_is_better=False, resolution=0.03) == MISSED
    assert judge(1.47, 1.6, 1.5, higher_is_better=True, resolution=0.03) == MET
    records = [
        comparison_record("a", {"eager/plain": 10.0, "ts-python/plain": 8.0, "ts-cpp/plain": 4.0}),
        comparison_record("b", {"eager/plain": 9.0, "ts-python/plain": 9.0, "ts-cpp/plain": 18.0}),
    ]
    judged = judge_goals(
        latency_table(records), ratios_table(records), {"min_speedup_geomean": 1.5, "max_cross_language_ratio": 1.0}
    )
    verdicts = dict(zip(judged["subject"], judged["verdict"], strict=True))
    assert verdicts == {"all models": MET, "a": MET, "b": MISSED}  # geomean 1.58; b's C++ is 2x slower
    assert "1 missed" in goals_markdown(judged, 0.03) and goals_markdown(pd.DataFrame()) == ""


def test_cpp_against_the_peer_and_the_compute_floor():
    from tvdeploy.results.frames import ratios_table
    from tvdeploy.results.goals import MET, MISSED, judge_goals

    records = [
        # C++ faster than ONNX Runtime; 2 GFLOP in 4 ms is 500 GFLOP/s, twice the job's peak.
        comparison_record("a", {"eager/plain": 10.0, "ts-cpp/plain": 4.0, "onnxruntime/plain": 5.0}),
        # The fused C++ deployment is the better one, and still 5.6 % slower than the peer.
        # (openvino-cpp is faster, but it is the peer's own C++ path, not LibTorch's.)
        comparison_record(
            "b",
            {
                "eager/plain": 20.0,
                "ts-cpp/plain": 18.0,
                "ts-cpp/fused": 9.5,
                "openvino-cpp/plain": 8.0,
                "onnxruntime/plain": 9.0,
            },
        ),
        # Its only C++ deployment failed.
        comparison_record(
            "c", {"eager/plain": 10.0, "ts-cpp/plain": 5.0, "onnxruntime/plain": 5.0}, failed=["ts-cpp/plain"]
        ),
    ]
    for record in records:
        record["peak"] = {"gflop_per_s": 250.0}
    latency = latency_table(records, {"a": 1.0, "b": 1.0, "c": 1.0})
    goals = {"max_cpp_vs_peer_ratio": 1.0, "max_floor_ratio": 1.5}
    judged = judge_goals(latency, ratios_table(records), goals, resolution=0.03)
    peer = judged[judged["goal"].str.startswith("best LibTorch C++")].set_index("subject")
    assert dict(peer["verdict"]) == {"a": MET, "b": MISSED, "c": MISSED}
    assert "ts-cpp/fused" in peer.loc["b", "goal"] and abs(peer.loc["b", "value"] - 9.5 / 9.0) < 1e-9
    floor = judged[judged["goal"].str.contains("compute floor")].set_index("subject")
    assert abs(floor.loc["a", "value"] - 0.5) < 1e-9 and floor.loc["a", "verdict"] == MET
    # b's fastest is openvino-cpp: 2 GFLOP in 8 ms is 250 GFLOP/s, the peak itself.
    assert "openvino-cpp" in floor.loc["b", "goal"] and abs(floor.loc["b", "value"] - 1.0) < 1e-9
