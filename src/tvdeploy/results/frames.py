"""Records to tables: the per-job JSON results (comparisons, predictions, parity checks, harness
overhead, builds) as pandas DataFrames, one row per measured thing, in the columns and order the
CSVs are written with."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from tvdeploy.inputs import input_name
from tvdeploy.registry import EAGER, RUNTIMES, Deployment
from tvdeploy.results.efficiency import EFFICIENCY_COLUMNS, efficiency

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
    "disturbed_blocks",
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
    # Why the rounds of the pair's group stopped (tvdeploy.measure.stopping), or why it has no ratio.
    "stop_reason",
    "error_class",
    "error",
]
RUNTIME_ORDER = list(RUNTIMES)


def allocation_columns(record: dict) -> dict:
    """Where a comparison ran: the host, and on a cluster the job and whether it had the node
    to itself (a timing from a shared node is suspect)."""
    allocation = record.get("allocation") or {}
    return {
        "host": allocation.get("node") or record.get("environment", {}).get("hostname"),
        "slurm_job": allocation.get("job_id"),
        "exclusive_node": allocation.get("exclusive"),
    }


def latency_table(
    comparisons: list[dict], gmacs: dict[str, float] | None = None, quantized: Iterable[str] = ()
) -> pd.DataFrame:
    """One row per deployment of every comparison job: pooled latency statistics, the speedup
    over eager as the paired estimate with its interval (1 / the ratio vs eager), and the
    efficiency against the job's measured peak (``gmacs``: the models' multiply-accumulates;
    ``quantized``: the eager-quantized models, judged against the int8 peak)."""
    gmacs = gmacs or {}
    quantized = frozenset(quantized)
    rows = []
    for rec in comparisons:
        peak = rec.get("peak")
        vs_eager = {c["candidate"]: c for c in rec["comparisons"] if c["kind"] == "vs_eager" and c.get("verdict")}
        for name, dep in rec["deployments"].items():
            deployment = Deployment.from_key(name)
            row = {
                "run": rec["run"],
                "model": rec["model"],
                "runtime": deployment.runtime,
                "variant": deployment.variant,
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
                # Each deployment against its own precision's peak (tvdeploy.results.efficiency).
                model_gmacs = gmacs.get(rec["model"])
                row.update(
                    efficiency(
                        model_gmacs,
                        rec["batch_size"],
                        summary["median_ms"],
                        peak,
                        deployment.variant,
                        rec["model"] in quantized,
                    )
                )
            if deployment.runtime == EAGER and summary:
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


def predictions_table(predictions: list[dict], weights_source: dict[str, str]) -> pd.DataFrame:
    """One row per prediction record, image and top-k rank: the class and its probability, with
    the weights the model ran with (the record's own, else ``weights_source`` by model)."""
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


def builds_table(records: list[dict]) -> pd.DataFrame:
    """Build cost per artifact: one row per model and artifact, its status, the build's own wall
    time and the job's wall time and peak memory (Snakemake's benchmark record of the job)."""
    columns = ["run", "model", "artifact", "status", "error_class", "build_s", "job_s", "job_max_rss_mb", "error"]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["run", "artifact", "model"]).reset_index(drop=True)
