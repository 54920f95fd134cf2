"""Job accounting from Snakemake's ``benchmark:`` files (one TSV per job, written when it ends):
a job's wall time and peak memory, a run's wall time from its jobs' intervals, and how that
wall time splits by stage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

import pandas as pd

from tvdeploy.plan.targets import RULE_STAGES

# Every rule writes its benchmark files under results/jobs/<rule>/ or as results/jobs/<rule>.tsv
# (workflow/rules/*.smk; tests/results/test_jobs.py checks).
JOBS_DIR = PurePosixPath("results/jobs")


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


def rule_of_job_file(tsv_path: str | Path) -> str:
    """The rule whose job wrote a Snakemake ``benchmark:`` file, from its path."""
    path = PurePosixPath(Path(tsv_path).as_posix())
    if not path.is_relative_to(JOBS_DIR) or path == JOBS_DIR:
        raise ValueError(f"{tsv_path}: not a job file under {JOBS_DIR}/<rule>/")
    first = path.relative_to(JOBS_DIR).parts[0]
    return first.removesuffix(".tsv")


def stage_of_rule(rule: str, source: str | Path) -> str:
    try:
        return RULE_STAGES[rule]
    except KeyError:
        raise ValueError(f"{source}: rule {rule} has no stage in tvdeploy.plan.targets.RULE_STAGES") from None


def timed_jobs(
    job_files: Iterable[str | Path], records_by_rule: dict[str, list[dict]]
) -> tuple[list[tuple[str, float, float]], int]:
    """(stage, start, end) of every job: from its Snakemake ``benchmark:`` file, or for the
    benchmark rules (which keep none) from the ``job`` span their records carry
    (tvdeploy.measure.bench.job_span); and how many records carry no span."""
    jobs = [(stage_of_rule(rule_of_job_file(p), p), *tsv_job_interval(p)) for p in job_files]
    untimed = 0
    for rule, records in records_by_rule.items():
        for record in records:
            span = record.get("job")
            if span is None:
                untimed += 1
            else:
                jobs.append((stage_of_rule(rule, f"a {rule} record"), span["started_at"], span["finished_at"]))
    return jobs, untimed


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


def time_by_stage(jobs: Iterable[tuple[str, float, float]], stages: Sequence[str], gap_s: float = 300.0) -> dict:
    """Where a run's wall time went: ``jobs`` as (stage, start, end). The run's wall time as
    ``run_wall_time`` gives it, and per stage in ``stages`` order (stages not listed after them)
    with at least one job: its job count, its busy seconds (the merged intervals of its jobs, so
    jobs side by side count once) and that as a share of the run's wall time. Stages that ran side
    by side both count that time: shares can add up to more than 1; the wall time left when no
    job ran at all is ``idle_s``."""
    jobs = list(jobs)
    wall = run_wall_time([(start, end) for _, start, end in jobs], gap_s)
    seen = {stage for stage, _, _ in jobs}
    ordered = [s for s in stages if s in seen] + sorted(seen - set(stages))
    rows = []
    for stage in ordered:
        spans = [(start, end) for s, start, end in jobs if s == stage]
        busy_s = sum(end - start for start, end in busy_intervals(spans))
        share = busy_s / wall["wall_s"] if wall["wall_s"] > 0 else float("nan")
        rows.append({"stage": stage, "jobs": len(spans), "busy_s": busy_s, "share": share})
    return {**wall, "idle_s": max(0.0, wall["wall_s"] - wall["busy_s"]), "stages": rows}
