"""Job accounting from Snakemake's ``benchmark:`` files (one TSV per job, written when it ends):
a job's wall time and peak memory, and a run's wall time from its jobs' intervals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def job_seconds(tsv_path: str | Path) -> float:
    """Wall seconds of one job from its Snakemake ``benchmark:`` file."""
    return float(pd.read_csv(tsv_path, sep="\t")["s"].iloc[0])


def job_max_rss_mb(tsv_path: str | Path) -> float:
    """Peak resident memory of one job (MB), NaN where Snakemake could not measure it."""
    value = pd.read_csv(tsv_path, sep="\t")["max_rss"].iloc[0]
    return float(value) if value != "-" else float("nan")


def tsv_job_interval(tsv_path: str | Path) -> tuple[float, float]:
    """(start, end) epoch seconds of a job with a Snakemake ``benchmark:`` file, which is
    written when the job ends."""
    end = Path(tsv_path).stat().st_mtime
    return end - job_seconds(tsv_path), end


def busy_intervals(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Merge overlapping (start, end) intervals: the stretches when at least one job ran."""
    merged: list[list[float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def run_wall_time(intervals: list[tuple[float, float]], gap_s: float = 300.0) -> dict:
    """Wall time of a run that may have been stopped and resumed: the first-to-last span minus
    idle gaps longer than ``gap_s`` (interruptions). Shorter gaps (scheduling, jobs without a
    timing record) count as part of the run."""
    busy = busy_intervals(intervals)
    if not busy:
        raise ValueError("no job intervals: nothing ran")
    gaps = [b[0] - a[1] for a, b in zip(busy, busy[1:], strict=False)]
    interruptions = [g for g in gaps if g > gap_s]
    span_s = busy[-1][1] - busy[0][0]
    return {
        "wall_s": span_s - sum(interruptions),
        "span_s": span_s,
        "busy_s": sum(end - start for start, end in busy),
        "interruptions": len(interruptions),
    }
