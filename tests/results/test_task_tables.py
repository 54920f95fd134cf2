"""The result tables by task: the task column every model table gets as rule aggregate writes it,
the summary's fastest deployments and deployability counts per task, and the catalog page's
section per task."""

import pandas as pd
from result_helpers import comparison_record

from tvdeploy.results.deployability import deployability_table
from tvdeploy.results.frames import latency_table, ratios_table, with_task
from tvdeploy.results.parity import parity_table
from tvdeploy.results.summary import summary_markdown

TASK_OF = {"resnet18": "classification", "fcn_resnet50": "segmentation", "raft_small": "optical_flow"}
MEDIANS = {
    "resnet18": {"eager/plain": 20.0, "ts-cpp/plain": 10.0},
    "fcn_resnet50": {"eager/plain": 900.0, "ts-cpp/plain": 1000.0},
    "raft_small": {"eager/plain": 300.0, "ts-cpp/plain": 150.0},
}


def tables():
    records = [comparison_record(model, medians, run="laptop") for model, medians in MEDIANS.items()]
    latency = latency_table(records)
    predictions = [
        {"run": "laptop", "device": "cpu", "model": m, "runtime": name.split("/")[0], "variant": "plain", "error": None}
        for m, medians in MEDIANS.items()
        for name in medians
    ]
    # fcn_resnet50's ts-cpp misses parity; the others agree.
    checks = [
        {"model": m, "device": "cpu", "runtime": "ts-cpp", "variant": "plain", "reference": "eager", "image": "a",
         "max_abs_diff": 1.0 if m == "fcn_resnet50" else 0.0, "tolerance": 1e-3,
         "within_tolerance": m != "fcn_resnet50"}
        for m in MEDIANS
    ]  # fmt: skip
    parity = parity_table([{"run": "laptop", "comparisons": checks}], {})
    deployability = deployability_table(predictions, parity, latency)
    return with_task(latency, TASK_OF), with_task(ratios_table(records), TASK_OF), with_task(deployability, TASK_OF)


def fastest_table(summary: str) -> str:
    """The summary's table of the fastest deployment per model (after its heading's line)."""
    return summary.split("**Fastest deployment per model**", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]


def test_a_table_gets_each_models_task_after_its_model():
    table = pd.DataFrame({"run": ["r", "r"], "model": ["raft_small", "unknown"], "ms": [1.0, 2.0]})
    tasked = with_task(table, TASK_OF)
    assert list(tasked.columns) == ["run", "model", "task", "ms"]
    assert tasked["task"].iloc[0] == "optical_flow" and pd.isna(tasked["task"].iloc[1])
    assert with_task(tasked, {}) is tasked  # already has one
    assert list(with_task(table.iloc[:0], TASK_OF).columns) == ["run", "model", "task", "ms"]


def test_the_summary_gives_fastest_deployments_and_deployability_per_task():
    latency, ratios, deployability = tables()
    text = summary_markdown(latency, ratios, deployability, {"run": "laptop"}, {})
    fastest = fastest_table(text)
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in fastest.splitlines() if line.startswith("| ")]
    assert rows[0][:3] == ["task", "model", "fastest"]
    assert [r[:3] for r in rows[1:]] == [
        ["classification", "resnet18", "ts-cpp (plain)"],
        ["optical_flow", "raft_small", "ts-cpp (plain)"],
        ["segmentation", "fcn_resnet50", "eager"],
    ]
    # Each fastest deployment's parity, and the fastest that agreed (fcn_resnet50's eager itself).
    assert [r[5:] for r in rows[1:]] == [
        ["ok", "ts-cpp (plain) 2.00 [2.00, 2.00]"],
        ["ok", "ts-cpp (plain) 2.00 [2.00, 2.00]"],
        ["ok", "eager 1.00 (reference)"],
    ]
    section = text.split("## Deployability by task\n", 1)[1].split("## Failures", 1)[0]
    counts = {
        cells[2]: cells
        for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines())
        if len(cells) > 2 and cells[2] in TASK_OF.values()
    }
    header = [c.strip() for c in section.splitlines()[1].split("|")[1:-1]]
    assert header[:4] == ["run", "device", "task", "models"]
    segmentation = dict(zip(header, counts["segmentation"], strict=True))
    assert (segmentation["models"], segmentation["ok"], segmentation["parity failed"]) == ("1", "1", "1")
    assert dict(zip(header, counts["optical_flow"], strict=True))["ok"] == "2"


def test_the_catalog_page_has_a_section_per_task(tmp_path):
    from tvdeploy.catalog.sheet import ModelInfo
    from tvdeploy.results.markdown import catalog_markdown

    latency, ratios, _ = tables()
    catalog = {
        "raft_small": ModelInfo(
            "raft_small", "optical_flow", "W.V2", "u", "ab", None, None, "", True, (0.5,) * 3, (0.5,) * 3, 990_000,
            47.7, 3.9, "EPE", 1.9, 0,
        ),
        "resnet18": ModelInfo(
            "resnet18", "classification", "W.V1", "u", "ab", 256, 224, "bilinear", True, (0.5,) * 3, (0.2,) * 3,
            11_700_000, 1.8, 45.0, "acc@1", 69.8, 1000,
        ),
    }  # fmt: skip
    job = tmp_path / "export.tsv"
    job.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t900\n")
    exports = {m: {"weights": {"source": "random"}, "export_s": 3.2} for m in catalog}
    parity = pd.DataFrame(columns=["model", "max_abs_diff", "tolerance", "top5_match"])
    doc = catalog_markdown(catalog, exports, dict.fromkeys(catalog, job), dict.fromkeys(catalog, 2000),
                           latency, ratios, parity, "# T")  # fmt: skip
    headings = [line for line in doc.splitlines() if line.startswith("## ")]
    # The registry's order, whatever the catalog's.
    assert headings == ["## Image classification (1 models)", "## Optical flow (1 models)"]
    flow = doc.split("## Optical flow", 1)[1]
    assert "raft_small" in flow and "resnet18" not in flow and "1.9 EPE (lower is better)" in flow


def test_the_summary_says_when_the_fastest_deployment_disagrees_and_names_the_fastest_that_agrees():
    """OpenVINO is fastest on a quantized model but its outputs missed their tolerance (seen on
    the quantized ResNets): the summary must not present it as the answer without saying so."""
    medians = {"eager/plain": 40.0, "ts-cpp/plain": 30.0, "openvino-python/plain": 10.0}
    records = [comparison_record("resnet18", medians, run="laptop")]
    latency, ratios = with_task(latency_table(records), TASK_OF), with_task(ratios_table(records), TASK_OF)
    statuses = {"eager": "ok", "ts-cpp": "ok", "openvino-python": "parity failed"}
    deployability = pd.DataFrame(
        [
            {"run": "laptop", "device": "cpu", "model": "resnet18", "task": "classification", "runtime": r,
             "variant": "plain", "status": status, "error_class": None, "detail": None, "upstream": None}
            for r, status in statuses.items()
        ]
    )  # fmt: skip
    rows = [
        [c.strip() for c in line.split("|")[1:-1]]
        for line in fastest_table(summary_markdown(latency, ratios, deployability, {"run": "laptop"}, {})).splitlines()
        if line.startswith("| ")
    ]
    header, row = rows
    assert header[-2:] == ["parity", "fastest whose outputs agree [95% CI]"]
    assert row[2] == "openvino-python" and row[-2] == "parity failed"
    assert row[-1].startswith("ts-cpp (plain) 1.33 [")
    # Where no deployment agreed, not even eager (its own checks never ran), it says so.
    deployability["status"] = "parity not checked"
    text = summary_markdown(latency, ratios, deployability, {"run": "laptop"}, {})
    row = [c.strip() for c in fastest_table(text).splitlines()[-1].split("|")[1:-1]]
    assert row[-2:] == ["parity not checked", "none agreed"]
