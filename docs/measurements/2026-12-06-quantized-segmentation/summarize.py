"""Tables of the 2026-12-06 quantized-classifier and segmentation runs, from the workflow's own
records (results/runs/quantized-cpu: exports, predictions and parity of the 12 quantized
classifiers; results/runs/q-seg-cpu: comparisons of four models). Prints Markdown.

    cd docs/measurements/2026-12-06-quantized-segmentation
    (cd ../../.. && python docs/measurements/2026-12-06-quantized-segmentation/summarize.py) > results.md
"""

import collections
import glob
import json
import os
import statistics


def parity_verdicts(path):
    """(runtime/variant → verdict, worst max|Δ|/tolerance) and the unavailable runtimes' error class."""
    record = json.load(open(path))
    by = collections.defaultdict(list)
    for c in record["comparisons"]:
        by[f"{c['runtime']}/{c['variant']}"].append(c)
    cells = {}
    for key, checks in by.items():
        agree = all(c["within_tolerance"] for c in checks)
        discriminates = all(c.get("discriminates", True) for c in checks)
        worst = max(c["max_abs_diff"] / c["tolerance"] for c in checks)
        verdict = "agrees" if agree and discriminates else "not checked" if agree else "differs"
        cells[key] = f"{verdict} ({worst:.2g})"
    for u in record["unavailable"]:
        cells[f"{u['runtime']}/{u['variant']}"] = (
            "not built (export error)" if "export error" in u["error"] else u["error"][:60]
        )
    return cells


def deployability(run="quantized-cpu"):
    rows = {
        os.path.basename(p)[:-5]: parity_verdicts(p) for p in sorted(glob.glob(f"results/runs/{run}/parity/cpu/*.json"))
    }
    keys = sorted({k for cells in rows.values() for k in cells})
    print(f"## Deployability and parity, {len(rows)} quantized classifiers (run `{run}`)\n")
    print(
        "Each cell: verdict against its reference (eager; ts-cpp against ts-python) over the 3 images, "
        "with the worst max |Δlogit| / tolerance.\n"
    )
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for model, cells in rows.items():
        print(f"| {model} | " + " | ".join(cells.get(k, "-") for k in keys) + " |")
    print()


def timed(run="q-seg-cpu"):
    print(f"## Paired comparisons (run `{run}`, batch 1, default protocol)\n")
    print(
        "| model | eager ms | fastest | its ms | speedup vs eager [95 % CI] | ts-cpp / ts-python plain "
        "| ts-cpp / ts-python fused | stop, rounds, s | median half-width | not deployed |"
    )
    print("|---|---:|---|---:|---|---|---|---|---:|---|")
    for path in sorted(glob.glob(f"results/runs/{run}/compare/cpu/b1/*.json")):
        d = json.load(open(path))
        med = {k: v["summary"]["median_ms"] for k, v in d["deployments"].items() if v.get("summary")}
        failed = [k for k, v in d["deployments"].items() if v["error"]]
        vs = [c for c in d["comparisons"] if c["kind"] == "vs_eager" and c.get("verdict")]
        best = min(vs, key=lambda c: c["ratio"])
        cross = {c["candidate"]: c for c in d["comparisons"] if c["kind"] == "cross_language" and c.get("verdict")}
        cell = lambda c: f"{c['ratio']:.3f} [{c['ci_low']:.3f}, {c['ci_high']:.3f}] {c['verdict']}" if c else "-"
        widths = [(c["ci_high"] - c["ci_low"]) / 2 / c["ratio"] for c in d["comparisons"] if c.get("verdict")]
        groups = "; ".join(
            f"{g.get('stop_reason')}, {g.get('rounds')}, {g.get('seconds', 0):.0f}" for g in d["admission"]["groups"]
        )
        print(
            f"| {d['model']} | {med['eager/plain']:.2f} | {best['candidate']} | {med[best['candidate']]:.2f} | "
            f"{1 / best['ratio']:.2f} [{1 / best['ci_high']:.2f}, {1 / best['ci_low']:.2f}] | "
            f"{cell(cross.get('ts-cpp/plain'))} | {cell(cross.get('ts-cpp/fused'))} | {groups} | "
            f"±{100 * statistics.median(widths):.1f} % | {', '.join(failed) or '-'} |"
        )
    print("\n### Median latency of every deployment (ms)\n")
    for path in sorted(glob.glob(f"results/runs/{run}/compare/cpu/b1/*.json")):
        d = json.load(open(path))
        med = {
            k: (f"{v['summary']['median_ms']:.2f}" if v.get("summary") else "—") for k, v in d["deployments"].items()
        }
        peaks = {k: round(v["gop_per_s"]) if v.get("gop_per_s") else None for k, v in d["peak"]["precisions"].items()}
        print(f"- {d['model']}: " + ", ".join(f"{k} {v}" for k, v in med.items()) + f"; matmul peak GOP/s {peaks}")
    print()


if __name__ == "__main__":
    deployability()
    timed()
