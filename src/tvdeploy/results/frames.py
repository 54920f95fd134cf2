"""Records to tables: the per-job JSON results (comparisons, predictions, parity checks, harness
overhead, builds) as pandas DataFrames, one row per measured thing, in the columns and order the
CSVs are written with."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from tvdeploy.inputs import input_name
from tvdeploy.registry import EAGER, RUNTIMES, Deployment, paths
from tvdeploy.registry.failures import upstream_issues
from tvdeploy.results.efficiency import EFFICIENCY_COLUMNS, efficiency

# What identifies one deployment's row in a result table: where it ran, which model, how.
DEPLOYMENT_KEYS = ["run", "device", "model", "runtime", "variant"]


def of_run(table: pd.DataFrame, run: str | None) -> pd.DataFrame:
    """The rows of one run, or every row when no run is named."""
    return table if run is None else table[table["run"] == run]


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


# An optical-flow pair's row in the predictions table: its mean flow vector and magnitude (px).
FLOW_PREDICTION_COLUMNS = ("flow_mean_u", "flow_mean_v", "flow_mean_magnitude")
# A segmentation record's classes listed per image in the predictions table: the largest pixel shares.
TOP_PIXEL_CLASSES = 5
# A detection's row in the predictions table: its score and box (xyxy, px of the image).
DETECTION_PREDICTION_COLUMNS = ("score", "box")
# A detector's image lists its highest-scoring detections (random weights at threshold 0 give 100).
TOP_DETECTIONS = 5


def _ranked_classes(result: dict) -> list[dict]:
    """An image's ranked classes, whatever the task: classification's top-k with probabilities,
    segmentation's classes covering the most pixels with their shares (no label: the record keeps
    none)."""
    if "topk" in result:
        return result["topk"]
    fractions = result["class_fractions"]
    ranked = sorted((i for i, f in enumerate(fractions) if f > 0), key=lambda i: -fractions[i])
    return [
        {"rank": rank + 1, "class_index": i, "pixel_fraction": fractions[i]}
        for rank, i in enumerate(ranked[:TOP_PIXEL_CLASSES])
    ]


def _ranked_detections(result: dict) -> list[dict]:
    """An image's detections by descending score (TOP_DETECTIONS of them), each with its
    category, score and box; none where the detector found nothing."""
    ranked = sorted(result["detections"], key=lambda d: -d["score"])[:TOP_DETECTIONS]
    return [
        {
            "rank": rank + 1,
            "class_index": d["label"],
            "label": d["category"],
            "score": d["score"],
            "box": [round(x, 2) for x in d["box"]],
        }
        for rank, d in enumerate(ranked)
    ]


def _result_items(result: dict) -> list[dict]:
    """A result's rows: its ranked classes, a detector's highest-scoring detections, or for an
    optical-flow pair (no classes) one row of its mean flow vector and magnitude (px)."""
    if "detections" in result:
        return _ranked_detections(result)
    if "mean_flow" in result:
        u, v = result["mean_flow"]
        return [{"rank": 1, "flow_mean_u": u, "flow_mean_v": v, "flow_mean_magnitude": result["mean_magnitude"]}]
    return _ranked_classes(result)


def result_input(result: dict) -> str:
    """The name of the user's input a result is of: its file's, or where a call took several
    files (optical flow's <pair>.image1.dat, <pair>.image2.dat) the name they share."""
    inputs = result.get("inputs") or [result["input"]]
    name = input_name(inputs[0])
    return name if len(inputs) == 1 else name.rpartition(paths.INPUT_MEMBER_SEPARATOR)[0]


def predictions_table(predictions: list[dict], weights_source: dict[str, str]) -> pd.DataFrame:
    """One row per prediction record, image and rank: the class and its probability
    (classification's top-k) or share of the pixels (segmentation), or a pair's mean flow
    (optical flow), with the weights the model ran with (the record's own, else
    ``weights_source`` by model)."""
    rows = []
    for pred in predictions:
        for result in pred["results"]:
            for item in _result_items(result):
                rows.append(
                    {
                        "run": pred["run"],
                        "model": pred["model"],
                        "image": result_input(result),
                        "runtime": pred["runtime"],
                        "variant": pred["variant"],
                        "device": pred["device"],
                        "weights_source": pred.get("weights_source") or weights_source.get(pred["model"]),
                        "rank": item["rank"],
                        "class_index": item.get("class_index"),
                        "label": item.get("label"),
                        "probability": item.get("probability"),
                        "pixel_fraction": item.get("pixel_fraction"),
                        **{k: item[k] for k in (*FLOW_PREDICTION_COLUMNS, *DETECTION_PREDICTION_COLUMNS) if k in item},
                    }
                )
    table = pd.DataFrame(rows)
    return table.sort_values(["run", "model", "image", "device", "runtime", "variant", "rank"]).reset_index(drop=True)


def with_task(table: pd.DataFrame, tasks: dict[str, str]) -> pd.DataFrame:
    """``table`` with a ``task`` column after ``model`` (each model's task, as the result tables are
    written and read by task); a model outside ``tasks`` gets none."""
    if "task" in table.columns:
        return table
    position = list(table.columns).index("model") + 1
    return table.reindex(columns=[*table.columns[:position], "task", *table.columns[position:]]).assign(
        task=table["model"].map(tasks)
    )


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
    """Build cost per artifact: one row per model and artifact, its status, how it was built (a
    detector's ONNX graph: the TorchScript-based exporter where the dynamo one failed), the build's
    own wall time and the job's wall time and peak memory (Snakemake's benchmark record of the job)."""
    columns = [
        "run", "model", "artifact", "status", "method", "error_class", "build_s", "job_s", "job_max_rss_mb", "error",
        "upstream",
    ]  # fmt: skip
    # The upstream issues a failed build is known to be, from its error (registry UPSTREAM_ISSUES):
    # a record written before an issue was registered names it too.
    records = [
        {**r, "upstream": ", ".join(upstream_issues(r["error"], r["artifact"], r["model"])) or None}
        if r.get("error")
        else r
        for r in records
    ]
    table = pd.DataFrame(records, columns=columns)
    return table.sort_values(["run", "artifact", "model"]).reset_index(drop=True)
