"""results/summary.md: one page per run that answers "which deployment, how much faster, how
sure", from the result tables."""

from __future__ import annotations

import pandas as pd

from tvdeploy.registry import EAGER, column_label
from tvdeploy.registry.failures import OTHER, classify_text
from tvdeploy.registry.precisions import PRECISION_CPU_FLAGS
from tvdeploy.results.accuracy import accuracy_markdown
from tvdeploy.results.deployability import FAILED, PARITY_FAILED, PARITY_UNCHECKED
from tvdeploy.results.float_agreement import float_agreement_markdown
from tvdeploy.results.formatting import interval_text, run_title
from tvdeploy.results.fronts import PublishedAccuracy, accuracy_label, fastest_per_model, task_fronts, with_accuracy
from tvdeploy.results.markdown import precision_markdown, time_by_stage_markdown
from tvdeploy.results.speedups import (
    ANY_ACCURATE,
    ANY_AGREEING,
    RUN_KEYS,
    deployment_summary,
    fastest_by_precision,
    geometric_mean,
    verdict_counts,
)


def failure_class(error: str) -> str:
    return classify_text(error, OTHER)


def _environment_lines(environment: dict) -> list[str]:
    versions = environment.get("versions", {})
    cpu = environment.get("cpu", {})
    gpu = environment.get("gpu", {})
    config = environment.get("config", {})
    bench = config.get("bench", {})
    return [
        f"- this run: {environment.get('run', '?')}; machine {environment.get('hostname', '?')}, "
        f"CPU {cpu.get('model', '?')} ({cpu.get('cores', '?')} cores), "
        f"GPU {gpu.get('name') or 'none'}",
        f"- software: torch {versions.get('torch', '?')}, torchvision {versions.get('torchvision', '?')}, "
        f"workflow commit {(environment.get('git', {}).get('commit') or 'unknown')[:12]}",
        f"- protocol: {bench.get('rounds', '?')} interleaved rounds per comparison, threads "
        f"{bench.get('threads', '?') or 'all cores of the job'}, interop threads {bench.get('interop_threads', '?')}",
        *_precision_lines(cpu, environment.get("not_run") or {}),
    ]


def _precision_lines(cpu: dict, not_run: dict[str, list[str]]) -> list[str]:
    """The CPU's flags that decide a precision, the precisions it runs natively, and what the
    config chose that did not run, with why (records from before flags were kept have none)."""
    lines = []
    if "flags" in cpu:
        shown = [f for f in cpu["flags"] if f in PRECISION_CPU_FLAGS] or ["none of " + ", ".join(PRECISION_CPU_FLAGS)]
        lines.append(f"- CPU flags that decide a precision: {', '.join(shown)}")
    if "precisions" in cpu:
        native = [name for name, status in cpu["precisions"].items() if status == "native"]
        lines.append(f"- precisions native on this CPU: {', '.join(native) or 'none'}")
    lines += [f"- not run on {device}: {reason}" for device, reasons in not_run.items() for reason in reasons]
    return lines


def _runs_lines(latency: pd.DataFrame, environment: dict) -> list[str]:
    """Which runs the page covers: this one (the environment above) and any copied in."""
    this_run = environment.get("run")
    lines = []
    for (run, device), group in latency.groupby(["run", "device"], sort=True):
        hosts = ", ".join(sorted({str(h) for h in group["host"].dropna()})) or "unknown host"
        mark = " (this run)" if run == this_run else " (copied in)"
        lines.append(f"- run {run_title(run, device)}{mark}: {group['model'].nunique()} models on {hosts}")
    return lines


def _pareto_section(
    latency: pd.DataFrame, accuracy: PublishedAccuracy, device: str, batch: int, deployability: pd.DataFrame
) -> str:
    """One Pareto front per task measured, each by its task's own published metric and direction,
    over each model's fastest deployment whose outputs did not differ (the accuracy figure's panels)."""
    fastest = fastest_per_model(latency, device, batch, deployability=deployability)
    if fastest.empty:
        return ""
    parts = []
    for panel in task_fronts(with_accuracy(fastest, accuracy)):
        task, front = panel.task, panel.front
        better = "more accurate" if task.higher_is_better else f"lower in {task.accuracy_metric}"
        left_out = (
            f" {panel.unpublished} measured {task.name} models without a published {task.accuracy_metric} left out."
            if panel.unpublished
            else ""
        )
        if front.empty:
            parts.append(f"**Pareto front, {task.name}:** no measured model has a published {task.accuracy_metric}.\n")
            continue
        table = pd.DataFrame(
            {
                "model": front["model"],
                "deployment": [column_label(r, v) for r, v in zip(front["runtime"], front["variant"], strict=True)],
                "median ms": front["median_ms"].round(2),
                task.accuracy_metric: front["accuracy"].round(3),
            }
        )
        parts.append(
            f"**Pareto front, {task.name}** (no other {task.name} model is both faster and {better}; the "
            f"torchvision weights' published {accuracy_label(task)} against the fastest deployment measured "
            f"here whose outputs agreed with its reference or could not be checked):{left_out}\n\n"
            f"{table.to_markdown(index=False)}\n"
        )
    return "\n".join(parts)


def _speedup_section(latency: pd.DataFrame) -> str:
    deployed = latency[(latency["runtime"] != EAGER) & latency["speedup_vs_eager"].notna()]
    if deployed.empty:
        return ""
    rows = [
        {
            "deployment": column_label(runtime, variant),
            "models": len(group),
            "geometric-mean speedup over eager": round(geometric_mean(group["speedup_vs_eager"]), 3),
            "faster": int((group["verdict_vs_eager"] == "faster").sum()),
            "indistinguishable": int((group["verdict_vs_eager"] == "indistinguishable").sum()),
            "slower": int((group["verdict_vs_eager"] == "slower").sum()),
        }
        for (runtime, variant), group in deployed.groupby(["runtime", "variant"], sort=True)
    ]
    return f"{pd.DataFrame(rows).to_markdown(index=False)}\n"


def _agreement_columns(summary: pd.DataFrame, latency: pd.DataFrame, deployability: pd.DataFrame) -> dict:
    """Beside each model's fastest deployment: its parity status (the deployability table's), and
    the fastest deployment whose outputs agreed with their reference, at any precision; none
    without a deployability table. The fastest by speed alone may be one whose outputs differ
    (an int8 runtime on a quantized model), and a user deploys the one that agrees."""
    if deployability.empty:
        return {}
    status = {
        (r.run, r.device, r.model, column_label(r.runtime, r.variant)): r.status for r in deployability.itertuples()
    }
    rows = list(summary.itertuples())
    columns = {"parity": [status.get((r.run, r.device, r.model, r.fastest), "-") for r in rows]}
    best = fastest_by_precision(latency, deployability)
    if best.empty:  # a latency table without precisions (written before they were kept)
        return columns
    agreeing = best[best["precision"].isin([ANY_AGREEING, ANY_ACCURATE])].set_index([*RUN_KEYS, "model"])
    return {
        **columns,
        "fastest whose outputs agree [95% CI]": [
            _deployment_text(agreeing.loc[key]) if (key := (r.run, r.device, r.batch_size, r.model)) in agreeing.index
            else "none agreed"
            for r in rows
        ],
    }  # fmt: skip


def _deployment_text(row: pd.Series) -> str:
    if row["runtime"] == EAGER:  # eager against itself: 1.0, the reference, no interval
        return f"{column_label(EAGER, row['variant'])} {interval_text(1.0, float('nan'), float('nan'))}"
    interval = interval_text(row["speedup_vs_eager"], row["speedup_ci_low"], row["speedup_ci_high"])
    return f"{column_label(row['runtime'], row['variant'])} {interval}"


def _fastest_section(latency: pd.DataFrame, ratios: pd.DataFrame, deployability: pd.DataFrame) -> str:
    summary = deployment_summary(latency, ratios)
    if summary.empty:
        return ""
    # Grouped by task where the table says each model's (tables written by rule aggregate do).
    tasks = latency.drop_duplicates("model").set_index("model")["task"] if "task" in latency.columns else None
    shown = pd.DataFrame(
        {
            **({"task": summary["model"].map(tasks)} if tasks is not None else {}),
            "model": summary["model"],
            "fastest": summary["fastest"],
            "ms": summary["fastest_ms"].round(2),
            "speedup over eager [95% CI]": [
                interval_text(s, lo, hi)
                for s, lo, hi in zip(
                    summary["speedup_vs_eager"], summary["speedup_ci_low"], summary["speedup_ci_high"], strict=True
                )
            ],
            **_agreement_columns(summary, latency, deployability),
        }
    )
    if tasks is not None:
        shown = shown.sort_values(["task", "model"], kind="stable")
    return f"{shown.to_markdown(index=False)}\n"


def _verdict_counts(ratios: pd.DataFrame) -> str:
    counts = verdict_counts(ratios)
    if counts.empty:
        return ""
    total = int(counts.get("indistinguishable", pd.Series(dtype=int)).sum())
    return (
        f"{total} of {int(counts.to_numpy().sum())} paired comparisons were indistinguishable at the configured "
        f"resolution:\n\n{counts.to_markdown()}\n"
    )


def _deployability_by_task(deployability: pd.DataFrame) -> str:
    """Per run, device and task: its models and how many of their deployments reached each state
    (ok, parity failed, failed, ...), from the deployability table."""
    if deployability.empty or "task" not in deployability.columns:
        return ""
    keys = ["run", "device", "task"]
    counts = deployability.groupby([*keys, "status"]).size().unstack("status", fill_value=0)
    counts.insert(0, "models", deployability.groupby(keys)["model"].nunique())
    return f"{counts.reset_index().to_markdown(index=False)}\n"


def _failure_section(deployability: pd.DataFrame) -> str:
    """Every deployment that did not deploy cleanly, by failure class (build, inference or
    benchmark) and parity misses, from the deployability table."""
    problems = deployability[deployability["status"].isin([FAILED, PARITY_FAILED, PARITY_UNCHECKED])]
    if problems.empty:
        return "No deployment failed, and every one agreed with its reference within tolerance.\n"
    lines = []
    for (status, cls), group in problems.groupby(["status", "error_class"], sort=True, dropna=False):
        which = ", ".join(
            f"{row.model} {column_label(row.runtime, row.variant)} on {run_title(row.run, row.device)}"
            for row in group.itertuples()
        )
        label = {
            PARITY_FAILED: "parity failed (outputs beyond tolerance)",
            PARITY_UNCHECKED: "parity not checked (outputs cannot discriminate, e.g. random weights)",
        }.get(status, cls)
        lines.append(f"- {label}: {len(group)} ({which})")
    return "\n".join(lines) + "\n"


def summary_markdown(
    latency: pd.DataFrame,
    ratios: pd.DataFrame,
    deployability: pd.DataFrame,
    environment: dict,
    accuracy: PublishedAccuracy,
    labeled: pd.DataFrame | None = None,
    floor: float | None = None,
    float_agreement: pd.DataFrame | None = None,
) -> str:
    """The one-page summary. ``accuracy``: the published accuracy per model (the Pareto fronts);
    ``labeled``: the deployments' accuracy on a labeled images folder (tvdeploy.results.accuracy),
    judged against ``floor``; ``float_agreement``: the eager-quantized models against their float
    models (tvdeploy.results.float_agreement)."""
    parts = ["# Summary\n", *_environment_lines(environment), *_runs_lines(latency, environment), ""]
    for (run, device, batch), group in latency.groupby(RUN_KEYS, sort=True):
        batch_ratios = ratios[(ratios["run"] == run) & (ratios["device"] == device) & (ratios["batch_size"] == batch)]
        parts += [
            f"## {run_title(run, device, batch)}\n",
            _pareto_section(group, accuracy, device, batch, deployability),
            "**Speedup over eager per deployment** (paired over interleaved rounds; verdicts at the "
            "configured resolution):\n",
            _speedup_section(group),
            "**Fastest deployment per model** (by paired speedup; `parity`: whether its outputs agreed "
            "with their reference; beside it the fastest whose outputs agreed):\n",
            _fastest_section(group, batch_ratios, deployability),
            precision_markdown(group, deployability, labeled),
            _verdict_counts(batch_ratios),
        ]
    if labeled is not None and not labeled.empty and floor:
        parts += ["## Accuracy\n", accuracy_markdown(labeled, floor)]
    if float_agreement is not None and not float_agreement.empty:
        parts += ["## Quantized models against their float models\n", float_agreement_markdown(float_agreement)]
    parts += ["## Deployability by task\n", _deployability_by_task(deployability)]
    parts += ["## Failures\n", _failure_section(deployability)]
    split = environment.get("time_by_stage")
    if split:
        parts += [
            f"## Where the time goes ({environment.get('run', '?')})\n",
            "Every job of this run up to the tables, by stage (the tables and figures are made after these "
            "numbers; the catalog page, `docs/generated/catalog.md`, counts them).\n",
            time_by_stage_markdown(split, split.get("untimed_jobs", 0)),
        ]
    return "\n".join(p for p in parts if p is not None)
