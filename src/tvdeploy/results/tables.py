"""Result tables built with pandas from the per-job JSON files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tvdeploy.inputs import input_name
from tvdeploy.registry import EAGER, PLAIN, RUNTIMES, Deployment, column_label, deployments_of, ordered_labels
from tvdeploy.registry.failures import RUN_ERROR, classify_text
from tvdeploy.results.efficiency import EFFICIENCY_COLUMNS, efficiency
from tvdeploy.results.speedups import RUN_KEYS, fastest_deployments, geometric_mean

LATENCY_COLUMNS = [
    "run",
    "model",
    "runtime",
    "variant",
    "device",
    "batch_size",
    "threads",
    "weights_source",
    "host",
    "slurm_job",
    "exclusive_node",
    "median_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "iqr_ms",
    "iqr_over_median",
    "noisy",
    "throughput_ips",
    "iterations",
    "rounds",
    "round_median_spread",
    "speedup_vs_eager",
    "speedup_ci_low",
    "speedup_ci_high",
    "verdict_vs_eager",
    *EFFICIENCY_COLUMNS,
    "error",
]
RATIO_COLUMNS = [
    "run",
    "model",
    "device",
    "batch_size",
    "kind",
    "candidate",
    "reference",
    "ratio",
    "ci_low",
    "ci_high",
    "rounds",
    "confidence",
    "resolution",
    "verdict",
]
RUNTIME_ORDER = list(RUNTIMES)


def run_title(run: str, device: str, batch: int | None = None) -> str:
    """How headings name a run's device (and batch size): ``vm · cpu, batch 1``."""
    return f"{run} · {device}" + (f", batch {batch}" if batch is not None else "")


def allocation_columns(record: dict) -> dict:
    """Where a comparison ran: the host, and on a cluster the job and whether it had the node
    to itself (a timing from a shared node is suspect)."""
    allocation = record.get("allocation") or {}
    return {
        "host": allocation.get("node") or record.get("environment", {}).get("hostname"),
        "slurm_job": allocation.get("job_id"),
        "exclusive_node": allocation.get("exclusive"),
    }


def latency_table(comparisons: list[dict], gmacs: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per deployment of every comparison job: pooled latency statistics, the speedup
    over eager as the paired estimate with its interval (1 / the ratio vs eager), and the
    efficiency against the job's measured peak (``gmacs``: the models' multiply-accumulates)."""
    gmacs = gmacs or {}
    rows = []
    for rec in comparisons:
        peak = (rec.get("peak") or {}).get("gflop_per_s")
        vs_eager = {c["candidate"]: c for c in rec["comparisons"] if c["kind"] == "vs_eager" and c.get("verdict")}
        for name, dep in rec["deployments"].items():
            runtime, variant = name.split("/", 1)
            row = {
                "run": rec["run"],
                "model": rec["model"],
                "runtime": runtime,
                "variant": variant,
                "device": rec["device"],
                "batch_size": rec["batch_size"],
                "threads": dep["ready"].get("threads", rec["threads"]),
                "weights_source": rec["weights_source"],
                **allocation_columns(rec),
                "error": dep["error"],
            }
            summary = dep.get("summary")
            if summary:
                row.update({k: summary[k] for k in LATENCY_COLUMNS if k in summary})
                row.update(efficiency(gmacs.get(rec["model"]), rec["batch_size"], summary["median_ms"], peak))
            if runtime == EAGER and summary:
                row.update(speedup_vs_eager=1.0, speedup_ci_low=1.0, speedup_ci_high=1.0, verdict_vs_eager=None)
            elif name in vs_eager:
                c = vs_eager[name]
                row.update(
                    speedup_vs_eager=1.0 / c["ratio"],
                    speedup_ci_low=1.0 / c["ci_high"] if c["ci_high"] > 0 else 0.0,
                    speedup_ci_high=1.0 / c["ci_low"] if c["ci_low"] > 0 else float("inf"),
                    verdict_vs_eager=c["verdict"],
                )
            rows.append(row)
    table = pd.DataFrame(rows, columns=LATENCY_COLUMNS)
    table["runtime"] = pd.Categorical(table["runtime"], RUNTIME_ORDER, ordered=True)
    table = table.sort_values(["run", "model", "device", "batch_size", "runtime", "variant"]).reset_index(drop=True)
    table["runtime"] = table["runtime"].astype(str)
    return table


def ratios_table(comparisons: list[dict]) -> pd.DataFrame:
    """Every paired ratio (candidate / reference latency, below 1: candidate faster) with its
    confidence interval and verdict."""
    rows = [
        {
            "run": rec["run"],
            "model": rec["model"],
            "device": rec["device"],
            "batch_size": rec["batch_size"],
            **{k: c.get(k) for k in RATIO_COLUMNS[RATIO_COLUMNS.index("kind") :]},
        }
        for rec in comparisons
        for c in rec["comparisons"]
    ]
    return pd.DataFrame(rows, columns=RATIO_COLUMNS)


def interval_text(ratio: float, low: float, high: float) -> str:
    if np.isnan(low) or np.isnan(high):
        return f"{ratio:.2f} (reference)"
    return f"{ratio:.2f} [{low:.2f}, {high:.2f}]"


def latency_markdown(table: pd.DataFrame) -> str:
    """Per device and batch size: model rows, one median-latency column per runtime/variant,
    and the fastest deployment with its speedup over eager."""
    parts = []
    for (run, device, batch), group in table.groupby(RUN_KEYS, sort=True):
        deployments = deployments_of(group)
        wide = group.assign(column=[d.label for d in deployments]).pivot_table(
            index="model", columns="column", values="median_ms"
        )
        ordered = ordered_labels(deployments)
        wide = wide[ordered].round(3)
        best = fastest_deployments(group).set_index("model")
        if not best.empty:
            # The deployment with the largest speedup; below 1.00 eager itself was faster.
            wide["best deployment"] = [
                column_label(r, v) for r, v in zip(best["runtime"], best["variant"], strict=True)
            ]
            wide["speedup vs eager [95% CI]"] = [
                interval_text(r, lo, hi)
                for r, lo, hi in zip(
                    best["speedup_vs_eager"], best["speedup_ci_low"], best["speedup_ci_high"], strict=True
                )
            ]
            wide["verdict"] = best["verdict_vs_eager"]
        weights = group.groupby("model")["weights_source"].first()
        wide.insert(0, "weights", weights)
        noisy = group.loc[group["noisy"].fillna(False).astype(bool), "model"].unique()
        note = f"\nNoisy (IQR/median >= 10 %): {', '.join(sorted(noisy))}.\n" if len(noisy) else ""
        parts.append(f"### {run_title(run, device, batch)}: median latency (ms)\n\n{wide.to_markdown()}\n{note}")
    return "\n".join(parts)


def predictions_table(predictions: list[dict], weights_source: dict[str, str]) -> pd.DataFrame:
    rows = []
    for pred in predictions:
        for result in pred["results"]:
            for item in result["topk"]:
                rows.append(
                    {
                        "run": pred["run"],
                        "model": pred["model"],
                        "image": input_name(result["input"]),
                        "runtime": pred["runtime"],
                        "variant": pred["variant"],
                        "device": pred["device"],
                        "weights_source": pred.get("weights_source") or weights_source.get(pred["model"]),
                        "rank": item["rank"],
                        "class_index": item["class_index"],
                        "label": item["label"],
                        "probability": item["probability"],
                    }
                )
    table = pd.DataFrame(rows)
    return table.sort_values(["run", "model", "image", "device", "runtime", "variant", "rank"]).reset_index(drop=True)


def parity_table(parity_records: list[dict], weights_source: dict[str, str]) -> pd.DataFrame:
    """One row per model × device × runtime × variant: worst image's diff, all top-5 equal."""
    keys = ["run", "model", "device", "runtime", "variant", "reference"]
    rows = pd.DataFrame([{"run": rec["run"], **c} for rec in parity_records for c in rec["comparisons"]])
    if rows.empty:  # a single runtime has nothing to be compared with
        return pd.DataFrame(
            columns=[
                *keys[:2],
                "weights_source",
                *keys[2:],
                "images",
                "max_abs_diff",
                "tolerance",
                "logits_max_abs",
                "top5_match",
                "within_tolerance",
            ]
        )
    table = (
        rows.groupby(keys, sort=True)
        .agg(
            images=("image", "count"),
            max_abs_diff=("max_abs_diff", "max"),
            tolerance=("tolerance", "min"),
            logits_max_abs=("logits_max_abs", "max"),
            top5_match=("top5_match", "all"),
            within_tolerance=("within_tolerance", "all"),
        )
        .reset_index()
    )
    sources = [
        weights_source.get((run, model), weights_source.get(model))
        for run, model in zip(table["run"], table["model"], strict=True)
    ]
    table.insert(2, "weights_source", sources)
    return table


def overhead_table(records: list[dict]) -> pd.DataFrame:
    """Fixed per-call cost of each harness (a module that only returns a view)."""
    rows = []
    for rec in records:
        s = rec["summary"]
        rows.append(
            {
                "run": rec["run"],
                "device": rec["device"],
                "runtime": rec["runtime"],
                "threads": rec["threads"],
                "median_us": s["median_ms"] * 1000,
                "p90_us": s["p90_ms"] * 1000,
                "iqr_over_median": s["iqr_over_median"],
                "noisy": s["noisy"],
                "iterations": s["iterations"],
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "run",
            "device",
            "runtime",
            "threads",
            "median_us",
            "p90_us",
            "iqr_over_median",
            "noisy",
            "iterations",
        ],
    )


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


def job_seconds(tsv_path: str | Path) -> float:
    """Wall seconds of one job from its Snakemake ``benchmark:`` file."""
    return float(pd.read_csv(tsv_path, sep="\t")["s"].iloc[0])


def job_max_rss_mb(tsv_path: str | Path) -> float:
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
    and parity."""
    batch1 = latency[(latency["batch_size"] == 1)]
    cross = ratios[(ratios["batch_size"] == 1) & (ratios["kind"] == "cross_language") & ratios["verdict"].notna()]
    # The fastest deployment as the summary names it (eager where every deployment is slower).
    fastest = deployment_summary(batch1, ratios).set_index(["model", "device"])
    rows = []
    for model, info in catalog.items():
        export = exports[model]
        row = {
            "model": model,
            "params (M)": round(info.num_params / 1e6, 1),
            "GFLOPs": info.gflops,
            "input": f"{info.crop_size} ({info.interpolation})",
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
        for _, c in cross[(cross["model"] == model) & cross["candidate"].str.endswith(f"/{PLAIN}")].iterrows():
            label = f"{c['candidate'].split('/')[0]} / {c['reference'].split('/')[0]} {c['device']} [95% CI]"
            row[label] = f"{interval_text(c['ratio'], c['ci_low'], c['ci_high'])} {c['verdict']}"
        checks = parity[parity["model"] == model]
        row["parity max Δ / tolerance"] = (
            f"{(checks['max_abs_diff'] / checks['tolerance']).max():.2g}" if not checks.empty else "-"
        )
        row["top-5 equal"] = bool(checks["top5_match"].all()) if not checks.empty else None
        rows.append(row)
    return header + "\n\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n"


def deployment_summary(latency: pd.DataFrame, ratios: pd.DataFrame) -> pd.DataFrame:
    """Per device, batch size and model: the fastest deployment with its paired speedup over
    eager, and per variant the cross-language ratio (e.g. ts-cpp / ts-python on the same .pt)
    with its interval."""
    rows = []
    fastest = fastest_deployments(latency).set_index([*RUN_KEYS, "model"])
    for (run, device, batch, model), group in latency.groupby([*RUN_KEYS, "model"], sort=True):
        eager = group[group["runtime"] == EAGER]
        if eager.empty or (run, device, batch, model) not in fastest.index:
            continue
        best = fastest.loc[(run, device, batch, model)]
        eager_ms = float(eager["median_ms"].iloc[0])
        row = {"run": run, "device": device, "batch_size": batch, "model": model, "eager_ms": eager_ms}
        if best["speedup_vs_eager"] < 1.0:
            # Every deployment is slower than eager PyTorch by its paired estimate: eager is the
            # fastest way to run this model, and a user should read that here.
            row.update(fastest=column_label(EAGER, PLAIN), fastest_ms=eager_ms, speedup_vs_eager=1.0)
            row.update(speedup_ci_low=np.nan, speedup_ci_high=np.nan)
        else:
            row.update(
                fastest=column_label(best["runtime"], best["variant"]),
                fastest_ms=float(best["median_ms"]),
                speedup_vs_eager=float(best["speedup_vs_eager"]),
                speedup_ci_low=float(best["speedup_ci_low"]),
                speedup_ci_high=float(best["speedup_ci_high"]),
            )
        cross = ratios[
            (ratios["run"] == run)
            & (ratios["device"] == device)
            & (ratios["batch_size"] == batch)
            & (ratios["model"] == model)
            & (ratios["kind"] == "cross_language")
            & ratios["verdict"].notna()
        ]
        for _, c in cross.iterrows():
            cand_runtime, variant = c["candidate"].split("/", 1)
            ref_runtime = c["reference"].split("/", 1)[0]
            languages = f"{RUNTIMES[cand_runtime].language}/{RUNTIMES[ref_runtime].language}"
            row[f"{languages} {variant}"] = interval_text(c["ratio"], c["ci_low"], c["ci_high"])
            row[f"verdict {variant}"] = c["verdict"]
        rows.append(row)
    return pd.DataFrame(rows)


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


def verdict_counts(ratios: pd.DataFrame) -> pd.DataFrame:
    """Paired comparisons per kind (rows) and verdict (columns); empty when none was judged."""
    judged = ratios[ratios["verdict"].notna()]
    if judged.empty:
        return pd.DataFrame()
    return judged.pivot_table(index="kind", columns="verdict", values="model", aggfunc="count", fill_value=0)


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


# ---- deployability ----------------------------------------------------------------------------
# The states of one model × deployment, in the order figures and documents list them.
DEPLOYED = "ok"
PARITY_FAILED = "parity failed"
FAILED = "failed"
NOT_RUN = "not run"
DEPLOYABILITY_STATES = (DEPLOYED, PARITY_FAILED, FAILED, NOT_RUN)
DEPLOYABILITY_COLUMNS = ["run", "device", "model", "runtime", "variant", "status", "error_class", "detail"]


def deployability_table(predictions: list[dict], parity: pd.DataFrame, latency: pd.DataFrame) -> pd.DataFrame:
    """One row per run, device, model and deployment that was to run: deployed with parity, parity
    failed (by how much: the worst image's |Δlogit| in tolerances and relative to the logits'
    scale), or failed with its class (the build's, the inference's, or the benchmark's)."""
    rows = {}
    for pred in predictions:
        key = (pred["run"], pred["device"], pred["model"], pred["runtime"], pred["variant"])
        if pred.get("error"):
            rows[key] = {"status": FAILED, "error_class": pred.get("error_class") or RUN_ERROR, "detail": pred["error"]}
        else:
            rows[key] = {"status": DEPLOYED, "error_class": None, "detail": None}
    for _, check in parity.iterrows():
        key = (check["run"], check["device"], check["model"], check["runtime"], check["variant"])
        if key in rows and rows[key]["status"] == DEPLOYED and not check["within_tolerance"]:
            relative = check["max_abs_diff"] / check["logits_max_abs"] if check["logits_max_abs"] else float("inf")
            rows[key] = {
                "status": PARITY_FAILED,
                "error_class": "parity",
                "detail": f"max |Δ| {check['max_abs_diff'] / check['tolerance']:.3g}× tolerance "
                f"({relative:.2g} of the logits' scale) vs {check['reference']}, "
                f"top-5 {'equal' if check['top5_match'] else 'differ'}",
            }
    failed_runs = latency[latency["error"].notna() & (latency["error"] != "")] if "error" in latency else latency[:0]
    for _, row in failed_runs.iterrows():
        key = (row["run"], row["device"], row["model"], row["runtime"], row["variant"])
        if rows.get(key, {}).get("status") in (None, DEPLOYED, PARITY_FAILED):
            rows[key] = {
                "status": FAILED,
                "error_class": f"benchmark: {classify_text(row['error'], RUN_ERROR)}",
                "detail": f"batch {row['batch_size']}: {row['error']}",
            }
    table = pd.DataFrame(
        [dict(zip(DEPLOYABILITY_COLUMNS[:5], key, strict=True)) | state for key, state in rows.items()],
        columns=DEPLOYABILITY_COLUMNS,
    )
    order = {name: i for i, name in enumerate(RUNTIME_ORDER)}
    return (
        table.assign(_order=table["runtime"].map(order))
        .sort_values(["run", "device", "model", "_order", "variant"])
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def deployability_wide(
    table: pd.DataFrame, run: str, device: str, values: str = "status", missing: str = NOT_RUN
) -> pd.DataFrame:
    """Model × deployment ``values`` (the states) of one run and device, ``missing`` where nothing
    was planned."""
    rows = table[(table["run"] == run) & (table["device"] == device)]
    labels = [column_label(r, v) for r, v in zip(rows["runtime"], rows["variant"], strict=True)]
    wide = rows.assign(deployment=labels).pivot_table(
        index="model", columns="deployment", values=values, aggfunc="first"
    )
    return wide.reindex(columns=list(dict.fromkeys(labels))).fillna(missing)


def deployability_markdown(table: pd.DataFrame) -> str:
    """Per run and device: the matrix (✓ deployed with parity, ≠ parity failed, ✗ failed with
    its class), the count per deployment, then every failure and parity miss with its detail."""
    mark = {DEPLOYED: "✓", PARITY_FAILED: "≠ parity", NOT_RUN: "·"}
    parts = []
    for (run, device), rows in table.groupby(["run", "device"], sort=True):
        labels = [column_label(r, v) for r, v in zip(rows["runtime"], rows["variant"], strict=True)]
        cells = rows.assign(
            deployment=labels,
            cell=[mark.get(s, f"✗ {c}") for s, c in zip(rows["status"], rows["error_class"], strict=True)],
        )
        wide = deployability_wide(cells, run, device, values="cell", missing=mark[NOT_RUN])
        counts = cells.pivot_table(index="status", columns="deployment", values="model", aggfunc="count")
        counts = counts.reindex(index=[s for s in DEPLOYABILITY_STATES if s in counts.index], columns=wide.columns)
        parts.append(f"### Deployability — {run_title(run, device)}\n")
        parts.append(
            "✓ deployed, parity within tolerance · ≠ parity beyond tolerance · ✗ failed, with its class · "
            "· not run\n\n" + counts.fillna(0).astype(int).to_markdown() + "\n\n" + wide.to_markdown() + "\n"
        )
        problems = rows[rows["status"] != DEPLOYED]
        if not problems.empty:
            parts.append(
                "#### Failures and parity misses\n\n"
                + problems[["model", "runtime", "variant", "status", "error_class", "detail"]].to_markdown(index=False)
                + "\n"
            )
    return "\n".join(parts)


def builds_table(records: list[dict]) -> pd.DataFrame:
    """Build cost per artifact: one row per model and artifact, its status, the build's own wall
    time and the job's wall time and peak memory (Snakemake's benchmark record of the job)."""
    columns = ["run", "model", "artifact", "status", "error_class", "build_s", "job_s", "job_max_rss_mb", "error"]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["run", "artifact", "model"]).reset_index(drop=True)


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
