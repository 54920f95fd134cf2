"""Performance goals judged from paired intervals."""

from result_helpers import comparison_record

from tvdeploy.tables import latency_table


def test_goals_are_missed_only_where_the_interval_says_so():
    import pandas as pd

    from tvdeploy.goals import MET, MISSED, UNDECIDED, goals_markdown, judge, judge_goals
    from tvdeploy.tables import ratios_table

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
