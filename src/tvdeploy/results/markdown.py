"""Markdown of the result tables: the sections of ``latency.md`` (latency, throughput, the fastest
deployment, verdict counts, failures, harness overhead) and of the whole-catalog page (one row
per model, ratio matrices, build cost), each a function of the tables it renders."""

from __future__ import annotations

import pandas as pd

from tvdeploy.registry import PLAIN, PRECISIONS, TASKS, Deployment, column_label, deployments_of, ordered_labels
from tvdeploy.results.accuracy import accuracy_markdown, fell_short
from tvdeploy.results.efficiency import efficiency_markdown
from tvdeploy.results.formatting import interval_text, run_title
from tvdeploy.results.goals import goals_markdown, judge_goals
from tvdeploy.results.jobs import job_max_rss_mb, job_seconds
from tvdeploy.results.speedups import (
    ANY_ACCURATE,
    ANY_AGREEING,
    RUN_KEYS,
    deployment_summary,
    fastest_by_precision,
    fastest_deployments,
    geometric_mean,
    verdict_counts,
)


def latency_markdown(table: pd.DataFrame) -> str:
    """Per device and batch size: model rows, one median-latency column per runtime/variant,
    and the fastest deployment with its speedup over eager."""
    parts = []
    for (run, device, batch), group in table.groupby(RUN_KEYS, sort=True):
        deployments = deployments_of(group)
        wide = group.assign(column=[d.label for d in deployments]).pivot_table(
            index="model", columns="column", values="median_ms"
        )
        # A deployment that failed on every model has no latency to pivot: its column stays, empty.
        wide = wide.reindex(columns=ordered_labels(deployments)).round(3)
        best = fastest_deployments(group).set_index("model")
        if not best.empty:
            # The deployment with the largest speedup; below 1.00 eager itself was faster. A model
            # without a paired speedup (no ratio came out of its comparison) has no row in best.
            best = best.reindex(wide.index)
            has = best["runtime"].notna()
            wide["best deployment"] = [
                column_label(r, v) if ok else "" for r, v, ok in zip(best["runtime"], best["variant"], has, strict=True)
            ]
            wide["speedup vs eager [95% CI]"] = [
                interval_text(r, lo, hi) if ok else ""
                for r, lo, hi, ok in zip(
                    best["speedup_vs_eager"], best["speedup_ci_low"], best["speedup_ci_high"], has, strict=True
                )
            ]
            wide["verdict"] = best["verdict_vs_eager"]
        weights = group.groupby("model")["weights_source"].first()
        wide.insert(0, "weights", weights)
        noisy = group.loc[group["noisy"].fillna(False).astype(bool), "model"].unique()
        note = f"\nNoisy (IQR/median >= 10 %): {', '.join(sorted(noisy))}.\n" if len(noisy) else ""
        parts.append(f"### {run_title(run, device, batch)}: median latency (ms)\n\n{wide.to_markdown()}\n{note}")
    return "\n".join(parts)


def throughput_markdown(table: pd.DataFrame) -> str:
    """Offline scenario: images per second at each batch size above 1."""
    batched = table[table["batch_size"] > 1]
    if batched.empty:
        return ""
    label = [d.label for d in deployments_of(batched)]
    parts = []
    for (run, device, batch), group in batched.assign(column=label).groupby(RUN_KEYS, sort=True):
        wide = group.pivot_table(index="model", columns="column", values="throughput_ips").round(1)
        ordered = ordered_labels(deployments_of(group))
        parts.append(f"### {run_title(run, device, batch)}: throughput (images/s)\n\n{wide[ordered].to_markdown()}\n")
    return "\n".join(parts)


def deployment_markdown(summary: pd.DataFrame) -> str:
    if summary.empty:
        return ""
    parts = []
    for (run, device, batch), group in summary.groupby(RUN_KEYS, sort=True):
        shown = group.drop(columns=RUN_KEYS).set_index("model").round(3)
        parts.append(
            f"### {run_title(run, device, batch)}: fastest deployment and C++ / Python latency ratio\n\n"
            f"Geometric-mean speedup of the fastest deployment over eager: "
            f"{geometric_mean(group['speedup_vs_eager']):.2f}x over {len(group)} models. Ratios are paired "
            f"estimates over interleaved rounds with their 95 % interval; below 1 the C++ harness was faster.\n\n"
            f"{shown.to_markdown()}\n"
        )
    return "\n".join(parts)


def verdict_markdown(ratios: pd.DataFrame) -> str:
    """How many paired comparisons of each kind came out faster, slower or indistinguishable."""
    counts = verdict_counts(ratios)
    if counts.empty:
        return ""
    judged = ratios[ratios["verdict"].notna()]
    resolution = ", ".join(f"{r:.0%}" for r in sorted(judged["resolution"].unique()))
    return (
        "### Paired comparisons by verdict\n\n"
        f"Candidate vs reference latency over interleaved rounds: `faster`/`slower` when the 95 % interval "
        f"excludes 1 and the estimate differs by more than the resolution ({resolution}); otherwise "
        f"`indistinguishable`. Every ratio is in `ratios.csv`.\n\n{counts.to_markdown()}\n"
    )


def ratio_matrix_markdown(ratios: pd.DataFrame, kind: str, reference_name: str) -> str:
    """Per run, device and batch size: model × deployment paired time ratios of one ``kind``
    (candidate / reference, < 1 is faster) with their intervals."""
    rows = ratios[(ratios["kind"] == kind) & ratios["verdict"].notna()]
    parts = []
    for (run, device, batch), group in rows.groupby(RUN_KEYS, sort=True):
        candidates = [Deployment.from_key(c) for c in group["candidate"]]
        intervals = zip(group["ratio"], group["ci_low"], group["ci_high"], strict=True)
        cells = group.assign(
            deployment=[d.label for d in candidates], cell=[interval_text(r, lo, hi) for r, lo, hi in intervals]
        )
        wide = cells.pivot_table(index="model", columns="deployment", values="cell", aggfunc="first").fillna("—")
        ordered = ordered_labels(candidates)
        parts.append(
            f"### {run_title(run, device, batch)}: time vs {reference_name} "
            "(paired ratio [interval], < 1 is faster)\n\n"
            f"{wide[ordered].to_markdown()}\n"
        )
    return "\n".join(parts)


def builds_markdown(builds: pd.DataFrame) -> str:
    """Per artifact: how many built, failed, and the build jobs' wall time and peak memory."""
    if builds.empty:
        return ""
    summary = builds.groupby("artifact", sort=True).agg(
        built=("status", lambda s: int((s == "ok").sum())),
        failed=("status", lambda s: int((s != "ok").sum())),
        median_job_s=("job_s", "median"),
        max_job_s=("job_s", "max"),
        total_job_min=("job_s", lambda s: s.sum() / 60),
        max_peak_rss_mb=("job_max_rss_mb", "max"),
    )
    return "### Build cost per artifact\n\n" + summary.round(1).to_markdown() + "\n"


def parity_cells(checks: pd.DataFrame) -> dict:
    """A model's parity checks (parity table rows) in the catalog table, whatever its task: the
    worst max |Δ| / tolerance and top-5 where logits were compared, the lowest argmax agreement
    where masks were, and the verdicts counted ("-" where a task does not measure a field)."""
    if checks.empty:
        return {"parity max Δ / tolerance": "-", "top-5 equal": None, "argmax agreement": "-", "parity": "-"}
    # A flow's max |Δ| is its max end-point error (px), a detector's its largest matched score difference.
    ratio = (
        checks["max_abs_diff"].fillna(checks["max_epe"]).fillna(checks["max_score_diff"]) / checks["tolerance"]
    ).max()
    top5 = checks["top5_match"].dropna()
    agreement = checks["argmax_agreement"].min()
    verdicts = checks["verdict"].value_counts()
    return {
        "parity max Δ / tolerance": f"{ratio:.2g}" if pd.notna(ratio) else "-",
        "top-5 equal": bool(top5.astype(bool).all()) if not top5.empty else None,
        "argmax agreement": f"{agreement:.2%}" if pd.notna(agreement) else "-",
        "parity": ", ".join(f"{n} {verdict}" for verdict, n in verdicts.items()),
    }


def accuracy_text(info) -> str:
    """A model's published accuracy by its task's metric (ImageNet acc@1, COCO-VOC mIoU; RAFT's
    Sintel EPE, marked lower is better), "-" where the weights publish none."""
    if pd.isna(info.metric_value):
        return "-"
    lower = "" if TASKS[info.task].higher_is_better else " (lower is better)"
    return f"{info.metric_value:g} {info.metric}{lower}"


def input_size_text(info) -> str:
    """A model's input size in the catalog table (``info`` a catalog ModelInfo): its crop, the
    shorter side its preset resizes to where the input follows the image (segmentation), the
    image's own size where the preset does not resize (optical flow, detection), or a video
    model's frames of its crop (``16 × 112``)."""
    if info.resize_size is None:
        return "the image's own"
    if info.clip_len is not None:
        return f"{info.clip_len} × {info.crop_size}"
    return str(info.crop_size) if info.fixed_input_size else f"shorter side {info.resize_size}"


def task_title(task: str) -> str:
    """A task's name for a heading: its registry description up to the colon, capitalised."""
    name = TASKS[task].description.split(":")[0]
    return name[:1].upper() + name[1:]


def catalog_markdown(
    catalog: dict,
    exports: dict[str, dict],
    export_jobs: dict[str, str],
    mem_mb: dict[str, int],
    latency: pd.DataFrame,
    ratios: pd.DataFrame,
    parity: pd.DataFrame,
    header: str,
) -> str:
    """One row per model: size, input, export cost, latency of every deployment, the fastest one
    with its speedup over eager, the C++ / Python ratio on the same plain .pt with its interval,
    and parity; a section per task (in the registry's order), each table with its own columns."""
    batch1 = latency[(latency["batch_size"] == 1)]
    cross = ratios[(ratios["batch_size"] == 1) & (ratios["kind"] == "cross_language") & ratios["verdict"].notna()]
    # The fastest deployment as the summary names it (eager where every deployment is slower).
    fastest = deployment_summary(batch1, ratios).set_index(["model", "device"])
    rows: dict[str, list[dict]] = {}
    for model, info in catalog.items():
        export = exports[model]
        row = {
            "model": model,
            "params (M)": round(info.num_params / 1e6, 1),
            "GFLOPs": info.gflops,
            "published accuracy": accuracy_text(info),
            "input": input_size_text(info) + (f" ({info.interpolation})" if info.interpolation else ""),
            "weights": export["weights"]["source"],
            "export (s)": round(export["export_s"], 2),
            "export job (s)": round(job_seconds(export_jobs[model]), 1),
            "export peak RSS (MB)": round(job_max_rss_mb(export_jobs[model])),
            "planned mem_mb": mem_mb[model],
        }
        for device, group in batch1[batch1["model"] == model].groupby("device"):
            deployments = deployments_of(group)
            labels = {d.label: ms for d, ms in zip(deployments, group["median_ms"], strict=True)}
            for label in ordered_labels(deployments):
                if pd.notna(labels[label]):
                    row[f"{label} {device} (ms)"] = round(float(labels[label]), 2)
            if (model, device) in fastest.index:
                best = fastest.loc[(model, device)]
                row[f"fastest {device}"] = best["fastest"]
                row[f"fastest {device}: speedup vs eager [95% CI]"] = interval_text(
                    best["speedup_vs_eager"], best["speedup_ci_low"], best["speedup_ci_high"]
                )
        for _, c in cross[cross["model"] == model].iterrows():
            candidate, reference = Deployment.from_key(c["candidate"]), Deployment.from_key(c["reference"])
            if candidate.variant != PLAIN:
                continue
            label = f"{candidate.runtime} / {reference.runtime} {c['device']} [95% CI]"
            row[label] = f"{interval_text(c['ratio'], c['ci_low'], c['ci_high'])} {c['verdict']}"
        checks = parity[parity["model"] == model]
        row.update(parity_cells(checks))
        rows.setdefault(info.task, []).append(row)
    sections = [
        f"## {task_title(task)} ({len(rows[task])} models)\n\n"
        + pd.DataFrame(rows[task]).dropna(axis="columns", how="all").to_markdown(index=False)
        for task in TASKS
        if task in rows
    ]
    return header + "\n\n" + "\n\n".join(sections) + "\n"


def failures_markdown(latency: pd.DataFrame) -> str:
    """Every deployment whose benchmark failed, with its error; empty when none did."""
    failed = latency[latency["error"].notna()]
    if failed.empty:
        return ""
    return "### Failed deployments\n\n" + failed[["run", "model", "runtime", "variant", "error"]].to_markdown(
        index=False
    )


def overhead_markdown(overhead: pd.DataFrame) -> str:
    """Median per-call cost of each harness (µs), per run and device."""
    wide = overhead.pivot_table(index=["run", "device"], columns="runtime", values="median_us")
    return "### Harness overhead per call (µs, module returning a view)\n\n" + wide.round(1).to_markdown()


def environment_markdown(environment: dict) -> str:
    """Which software and machine measured the results (``environment.json``), with a warning when
    the results came from more than one."""
    versions, git = environment["versions"], environment["git"]
    mixed = len(environment["result_environments"]) > 1
    return "\n".join(
        [
            f"torch {versions['torch']}, torchvision {versions['torchvision']}, "
            f"{environment['cpu']['model']} ({environment['cpu']['cores']} cores), "
            f"GPU: {environment['gpu']['name'] or 'none'}; config {environment['config_sha256'][:12]}, "
            f"workflow commit {git['commit'] or 'unknown'}{' (uncommitted changes)' if git['dirty'] else ''}.\n",
            "**Warning: these results were measured on different machines or software versions "
            f"({environment['result_environments']}); see environment.json.**\n"
            if mixed
            else "",
        ]
    )


def precision_markdown(
    latency: pd.DataFrame, deployability: pd.DataFrame | None = None, accuracy: pd.DataFrame | None = None
) -> str:
    """Per model, the fastest deployment at each precision measured and the fastest whose
    outputs agreed with their reference at any precision (with the deployability table), and
    whose accuracy reached the floor where labeled images judged it; only where more than one
    precision ran."""
    table = fastest_by_precision(latency, deployability, accuracy)
    anywhere = (ANY_AGREEING, ANY_ACCURATE)
    if table.empty or table.loc[~table["precision"].isin(anywhere), "precision"].nunique() < 2:
        return ""
    cells = [
        f"{column_label(r.runtime, r.variant)} {interval_text(r.speedup_vs_eager, r.speedup_ci_low, r.speedup_ci_high)}"
        + (" (outputs did not agree)" if r.agrees is False else "")
        + (" (below the accuracy floor)" if fell_short(r.accurate_enough) else "")
        for r in table.itertuples()
    ]
    keys = [k for k in RUN_KEYS if table[k].nunique() > 1] + ["model"]  # the settings that vary
    wide = table.assign(cell=cells).pivot(index=keys, columns="precision", values="cell")
    order = [p for p in PRECISIONS if p in wide.columns] + [c for c in anywhere if c in wide.columns]
    return (
        "**Fastest deployment at each precision** (speedup over eager [95% CI], paired; eager is float32, "
        "or int8 for torchvision's quantized models):\n\n"
        f"{wide[order].fillna('-').to_markdown()}\n"
    )


def latency_page(
    latency: pd.DataFrame,
    ratios: pd.DataFrame,
    overhead: pd.DataFrame,
    environment: dict,
    goals: dict,
    resolution: float,
    accuracy: pd.DataFrame | None = None,
    accuracy_floor: float | None = None,
) -> str:
    """``latency.md``: the environment, then per run, device and batch size the latency,
    throughput and efficiency tables, the fastest deployments (at each precision, judged by
    ``accuracy`` on labeled images where there is one), the accuracy table, the verdict counts, this run's
    goals (``environment["run"]``; ``goals`` and ``resolution`` from the config), the failed
    deployments and the harness overhead."""
    this_run = environment["run"]
    own_latency, own_ratios = latency[latency["run"] == this_run], ratios[ratios["run"] == this_run]
    return "\n".join(
        [
            "# Inference latency\n",
            environment_markdown(environment),
            "Every deployment of a model was measured in the same job by long-lived workers, one timed block "
            "each per round in a shuffled order; speedups are paired estimates over those rounds.\n",
            latency_markdown(latency),
            throughput_markdown(latency),
            efficiency_markdown(latency),
            deployment_markdown(deployment_summary(latency, ratios)),
            precision_markdown(latency, accuracy=accuracy),
            accuracy_markdown(accuracy, accuracy_floor) if accuracy is not None and accuracy_floor else "",
            verdict_markdown(ratios),
            goals_markdown(judge_goals(own_latency, own_ratios, goals, resolution), resolution),
            failures_markdown(latency),
            overhead_markdown(overhead),
            "",
        ]
    )


def time_by_stage_markdown(split: dict, untimed_jobs: int = 0) -> str:
    """Where the time goes: a run's wall time and each stage's busy time (``jobs.time_by_stage``)."""
    lines = [
        f"Wall time {split['wall_s'] / 60:.1f} min from the first job's start to the last one's end, less "
        f"{split['interruptions']} idle gap(s) over 5 min where the run was stopped and resumed; no job ran for "
        f"{split['idle_s'] / 60:.1f} min of it. A stage's time is when at least one of its jobs ran: stages "
        "that ran side by side both count it, so the shares can add up to more than 100 %.",
    ]
    if untimed_jobs:
        lines[0] += f" {untimed_jobs} job(s) left no timing record and are not counted."
    table = pd.DataFrame(
        {
            "stage": [row["stage"] for row in split["stages"]],
            "jobs": [row["jobs"] for row in split["stages"]],
            "busy (min)": [round(row["busy_s"] / 60, 1) for row in split["stages"]],
            "share of wall time": [f"{100 * row['share']:.0f} %" for row in split["stages"]],
        }
    )
    return "\n".join([*lines, "", table.to_markdown(index=False), ""])
