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
