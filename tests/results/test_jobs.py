"""Job accounting from Snakemake's benchmark files (tvdeploy.results.jobs)."""

import pytest


def test_run_wall_time_merges_overlaps_and_drops_interruptions():
    from tvdeploy.results.jobs import busy_intervals, run_wall_time

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

    from tvdeploy.results.jobs import tsv_job_interval

    tsv = tmp_path / "job.tsv"
    tsv.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t100\n")
    os.utime(tsv, (1000.0, 1000.0))
    assert tsv_job_interval(tsv) == (987.5, 1000.0)


def test_time_by_stage_merges_each_stages_jobs_and_skips_an_interruption():
    from tvdeploy.results.jobs import time_by_stage

    jobs = [
        # Two exports side by side (0-10, 4-12) beside a C++ build (2-8): 12 s of exports, 6 of the build.
        ("exports", 0.0, 10.0),
        ("exports", 4.0, 12.0),
        ("builds", 2.0, 8.0),
        # A comparison alone, then the run stopped for an hour and resumed with a second one.
        ("comparisons", 14.0, 20.0),
        ("comparisons", 3620.0, 3630.0),
        ("downloads", 3630.0, 3631.0),
    ]
    split = time_by_stage(jobs, ["downloads", "exports", "builds", "comparisons", "tables"], gap_s=300)
    assert split["wall_s"] == 3631.0 - 3600.0 and split["interruptions"] == 1
    assert split["busy_s"] == 12.0 + 6.0 + 11.0 and split["idle_s"] == 2.0  # 12-14: nothing ran
    rows = {row["stage"]: row for row in split["stages"]}
    # Listed in the given order, only the stages that ran.
    assert [row["stage"] for row in split["stages"]] == ["downloads", "exports", "builds", "comparisons"]
    assert rows["exports"]["busy_s"] == 12.0 and rows["exports"]["jobs"] == 2
    assert rows["builds"]["busy_s"] == 6.0 and rows["comparisons"]["busy_s"] == 16.0
    assert rows["comparisons"]["share"] == pytest.approx(16.0 / 31.0)
    # Exports and the build overlapped: their shares add up to more than their union.
    assert rows["exports"]["share"] + rows["builds"]["share"] > 12.0 / 31.0
    # A stage the caller did not list still counts, after the listed ones.
    other = time_by_stage([("exports", 0.0, 1.0), ("other", 0.0, 2.0)], ["exports"])
    assert [row["stage"] for row in other["stages"]] == ["exports", "other"]


def test_a_job_file_names_its_rule():
    from tvdeploy.results.jobs import rule_of_job_file

    assert rule_of_job_file("results/jobs/export_onnx/resnet18.tsv") == "export_onnx"
    assert rule_of_job_file("results/jobs/infer_cpp/cpu/ts-cpp/plain/resnet18.tsv") == "infer_cpp"
    assert rule_of_job_file("results/jobs/aggregate.tsv") == "aggregate"
    with pytest.raises(ValueError, match="results/logs/x.tsv: not a job file under results/jobs"):
        rule_of_job_file("results/logs/x.tsv")


def test_every_rule_writes_its_job_files_under_its_own_name():
    """rule_of_job_file reads the rule from the path: every benchmark: directive follows it."""
    import re

    from conftest import REPO_ROOT

    from tvdeploy.results.jobs import rule_of_job_file

    found = 0
    for path in sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule |use rule )", path.read_text(), flags=re.M)[1:]:
            name = re.match(r"(?:rule (\w+):|use rule \w+ as (\w+))", block)
            benchmark = re.search(r"^    benchmark:\n\s+\"([^\"]+)\"", block, re.M)
            if benchmark:
                found += 1
                assert rule_of_job_file(benchmark.group(1)) == (name.group(1) or name.group(2)), path
    assert found >= 10


def test_timed_jobs_read_job_files_and_the_benchmarks_own_spans(tmp_path, monkeypatch):
    import os

    from tvdeploy.plan.targets import BENCHMARKS, EXPORTS
    from tvdeploy.results.jobs import timed_jobs

    monkeypatch.chdir(tmp_path)
    tsv = tmp_path / "results" / "jobs" / "export_onnx" / "resnet18.tsv"
    tsv.parent.mkdir(parents=True)
    tsv.write_text("s\th:m:s\tmax_rss\n20\t0:00:20\t100\n")
    os.utime(tsv, (1000.0, 1000.0))
    records = {"compare": [{"job": {"started_at": 1000.0, "finished_at": 1100.0}}, {"model": "old"}]}
    jobs, untimed = timed_jobs(["results/jobs/export_onnx/resnet18.tsv"], records)
    assert jobs == [(EXPORTS, 980.0, 1000.0), (BENCHMARKS, 1000.0, 1100.0)] and untimed == 1
    with pytest.raises(ValueError, match="a nope record: rule nope has no stage"):
        timed_jobs([], {"nope": [{"job": {"started_at": 0.0, "finished_at": 1.0}}]})
