"""Markdown of the result tables (tvdeploy.results.markdown): the whole-catalog rows and the
latency page."""

import pandas as pd
from result_helpers import comparison_record

from tvdeploy.results.frames import latency_table


def test_catalog_rows_show_every_deployment_and_the_fastest(tmp_path):
    from tvdeploy.catalog.sheet import ModelInfo
    from tvdeploy.results.frames import ratios_table
    from tvdeploy.results.markdown import catalog_markdown

    medians = {"eager/plain": 10.0, "ts-cpp/plain": 8.0, "ts-cpp/fused": 4.0, "onnxruntime/plain": 5.0}
    records = [comparison_record("m", medians)]
    info = ModelInfo(
        "m", "classification", "W.V1", "u", "ab", 256, 224, "bilinear", True, (0.5,) * 3, (0.2,) * 3, 2_000_000, 1.5,
        8.0, "acc@1", 70.0, 10,
    )  # fmt: skip
    job = tmp_path / "export.tsv"
    job.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t900\n")
    exports = {"m": {"weights": {"source": "random"}, "export_s": 3.2}}
    parity = pd.DataFrame(columns=["model", "max_abs_diff", "tolerance", "top5_match"])
    doc = catalog_markdown(
        {"m": info}, exports, {"m": job}, {"m": 2000}, latency_table(records), ratios_table(records), parity, "# T"
    )
    header, row = [line for line in doc.splitlines() if line.startswith("| ")][:2]
    cells = dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in row.split("|")), strict=True))
    assert cells["eager cpu (ms)"] == "10" and cells["ts-cpp (plain) cpu (ms)"] == "8"
    assert cells["ts-cpp (fused) cpu (ms)"] == "4" and cells["onnxruntime cpu (ms)"] == "5"
    assert list(cells).index("ts-cpp (plain) cpu (ms)") < list(cells).index("ts-cpp (fused) cpu (ms)")
    assert cells["fastest cpu"] == "ts-cpp (fused)"
    assert cells["fastest cpu: speedup vs eager [95% CI]"] == "2.50 [2.50, 2.50]"
    assert cells["published accuracy"] == "70 acc@1" and cells["input"] == "224 (bilinear)"
    # Every header is one cell: no "|" inside a column name.
    assert header.count("|") == row.count("|")


def latency_page_inputs():
    """Two models on a laptop (b's ts-cpp crashed) and one copied in from a GPU node, the harness
    overhead, and the environment of a run whose results came from two machines."""
    from tvdeploy.measure.bench import summarize_rounds
    from tvdeploy.results.frames import overhead_table, ratios_table

    records = [
        comparison_record("a", {"eager/plain": 10.0, "ts-python/plain": 8.0, "ts-cpp/plain": 4.0}),
        comparison_record(
            "b", {"eager/plain": 9.0, "ts-python/plain": 9.0, "ts-cpp/plain": 18.0}, failed=("ts-cpp/plain",)
        ),
        comparison_record(
            "a", {"eager/plain": 1.0, "ts-python/plain": 0.8, "ts-cpp/plain": 0.5}, device="cuda", run="gpu01"
        ),
    ]
    overhead = overhead_table(
        [
            {"run": "laptop", "device": "cpu", "threads": 2, "runtime": runtime,
             "summary": summarize_rounds([{"latencies_ms": [ms] * 3}], 1)}
            for runtime, ms in [("eager", 0.003), ("ts-python", 0.006), ("ts-cpp", 0.001)]
        ]
    )  # fmt: skip
    environment = {
        "run": "laptop",
        "versions": {"torch": "2.9.1", "torchvision": "0.24.1"},
        "cpu": {"model": "AMD EPYC", "cores": 4},
        "gpu": {"name": None},
        "config_sha256": "0123456789abcdef",
        "git": {"commit": "abc123", "dirty": True},
        "result_environments": [{"host": "laptop"}, {"host": "gpu01"}],
    }
    return latency_table(records), ratios_table(records), overhead, environment


def test_latency_page_renders_every_section_with_its_values():
    from tvdeploy.results.markdown import latency_page

    latency, ratios, overhead, environment = latency_page_inputs()
    text = latency_page(latency, ratios, overhead, environment, {"min_speedup_geomean": 1.5}, 0.03)
    lines = text.splitlines()
    assert lines[0] == "# Inference latency"
    assert (
        "torch 2.9.1, torchvision 0.24.1, AMD EPYC (4 cores), GPU: none; config 0123456789ab, "
        "workflow commit abc123 (uncommitted changes)." in lines
    )
    assert "**Warning: these results were measured on different machines or software versions" in text
    headings = [line for line in lines if line.startswith("### ")]
    assert headings == [
        "### gpu01 · cuda, batch 1: median latency (ms)",
        "### laptop · cpu, batch 1: median latency (ms)",
        "### gpu01 · cuda, batch 1: fastest deployment and C++ / Python latency ratio",
        "### laptop · cpu, batch 1: fastest deployment and C++ / Python latency ratio",
        "### Paired comparisons by verdict",
        "### Performance goals",
        "### Failed deployments",
        "### Harness overhead per call (µs, module returning a view)",
    ]  # batch 1 only: no throughput section; no peak measured: no efficiency section

    def section(heading):
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("### ")), len(lines))
        return lines[start + 1 : end]

    def row(heading, first_cell):
        return next(line for line in section(heading) if line.startswith(f"| {first_cell} "))

    def cells(line):
        return [c.strip() for c in line.split("|")][1:-1]

    # Medians per deployment, the fastest deployment and its paired speedup over eager.
    a = cells(row("### laptop · cpu, batch 1: median latency (ms)", "a"))
    assert a == ["a", "random", "10", "8", "4", "ts-cpp (plain)", "2.50 [2.50, 2.50]", "faster"]
    b = row("### laptop · cpu, batch 1: median latency (ms)", "b")
    assert "nan" in b and "ts-python (plain)" in b  # its ts-cpp failed
    assert "2.00 [2.00, 2.00]" in row("### gpu01 · cuda, batch 1: median latency (ms)", "a")
    fastest = "### laptop · cpu, batch 1: fastest deployment and C++ / Python latency ratio"
    assert "1.58x over 2 models" in "\n".join(section(fastest))
    assert "0.50 [0.50, 0.50]" in row(fastest, "a")
    # Verdict counts over both runs; goals of this run only (the laptop's CPU).
    assert cells(row("### Paired comparisons by verdict", "vs_eager")) == ["vs_eager", "4", "1"]  # faster, indist.
    goals = [line for line in section("### Performance goals") if line.startswith("| fastest")]
    assert len(goals) == 1 and "| cpu " in goals[0] and "| met " in goals[0] and "1.581" in goals[0]
    failed = row("### Failed deployments", "laptop")
    assert "| b " in failed and "| ts-cpp " in failed and "exited unexpectedly (exit status -11)" in failed
    overhead = cells(row("### Harness overhead per call (µs, module returning a view)", "('laptop',"))
    assert overhead == ["('laptop', 'cpu')", "3", "1", "6"]  # eager, ts-cpp, ts-python, in µs


def test_latency_page_of_one_machine_has_no_warning_and_no_failures():
    from tvdeploy.results.markdown import latency_page

    latency, ratios, overhead, environment = latency_page_inputs()
    environment.update(gpu={"name": "H200"}, git={"commit": None, "dirty": False}, result_environments=[{}])
    text = latency_page(latency[latency["error"].isna()], ratios, overhead, environment, {}, 0.03)
    assert "GPU: H200; config 0123456789ab, workflow commit unknown.\n" in text
    assert "Warning" not in text and "### Failed deployments" not in text and "### Performance goals" not in text
    assert text.endswith("| ('laptop', 'cpu') |       3 |        1 |           6 |\n")


def test_latency_page_of_a_model_without_a_paired_speedup_leaves_its_cells_empty():
    from tvdeploy.results.markdown import latency_markdown

    latency, _, _, _ = latency_page_inputs()
    latency = latency[latency["run"] == "laptop"].copy()
    # Model b's comparison gave no ratio (e.g. too few rounds): the others' rows keep their values.
    latency.loc[latency["model"] == "b", ["speedup_vs_eager", "speedup_ci_low", "speedup_ci_high"]] = float("nan")
    text = latency_markdown(latency)
    rows = {
        cells[0]: cells
        for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| "))
    }
    assert rows["a"][-3:] == ["ts-cpp (plain)", "2.50 [2.50, 2.50]", "faster"]
    assert rows["b"][:4] == ["b", "random", "9", "9"] and rows["b"][-3:-1] == ["", ""]


def test_latency_table_keeps_the_column_of_a_deployment_that_failed_on_every_model():
    from tvdeploy.results.markdown import latency_markdown

    latency, _, _, _ = latency_page_inputs()
    latency = latency[latency["run"] == "laptop"].copy()
    # ts-cpp failed on both models (ONNX Runtime on every quantized model does): no latency at all.
    failed = latency["runtime"] == "ts-cpp"
    latency.loc[failed, "median_ms"] = float("nan")
    latency.loc[failed, "error"] = "RuntimeError: no kernel"
    header = next(line for line in latency_markdown(latency).splitlines() if line.startswith("| model"))
    assert "ts-cpp" in header


def test_a_segmentation_row_shows_its_mIoU_its_input_and_its_masks_parity(tmp_path):
    from tvdeploy.catalog.sheet import ModelInfo
    from tvdeploy.results.frames import ratios_table
    from tvdeploy.results.markdown import catalog_markdown
    from tvdeploy.results.parity import parity_table

    records = [comparison_record("s", {"eager/plain": 10.0, "ts-cpp/plain": 8.0})]
    info = ModelInfo(
        "s", "segmentation", "W.V1", "u", "ab", 520, None, "bilinear", True, (0.5,) * 3, (0.2,) * 3, 3_000_000, 2.1,
        12.0, "mIoU", 57.9, 21,
    )  # fmt: skip
    job = tmp_path / "export.tsv"
    job.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t900\n")
    exports = {"s": {"weights": {"source": "random"}, "export_s": 3.2}}
    check = {"model": "s", "device": "cpu", "runtime": "ts-cpp", "variant": "plain", "reference": "ts-python/plain",
             "argmax_agreement": 0.995, "discriminates": True, "within_tolerance": True}  # fmt: skip
    parity = parity_table([{"run": "r", "comparisons": [{**check, "image": "a"}, {**check, "image": "b"}]}], {})
    doc = catalog_markdown(
        {"s": info}, exports, {"s": job}, {"s": 2000}, latency_table(records), ratios_table(records), parity, "# T"
    )
    header, row = [line for line in doc.splitlines() if line.startswith("| ")][:2]
    cells = dict(zip((c.strip() for c in header.split("|")), (c.strip() for c in row.split("|")), strict=True))
    assert cells["published accuracy"] == "57.9 mIoU" and cells["input"] == "shorter side 520 (bilinear)"
    assert cells["argmax agreement"] == "99.50%" and cells["parity"] == "1 agrees"
    # A segmentation section has no top-5 column: no model of it compares logits.
    assert cells["parity max Δ / tolerance"] == "-" and "top-5 equal" not in cells


def test_a_video_models_input_is_its_frames_of_its_crop():
    from tvdeploy.catalog.sheet import ModelInfo
    from tvdeploy.results.markdown import input_size_text

    video = ModelInfo(
        "v", "video", "W.V1", "u", "ab", (128, 171), 112, "bilinear", False, (0.4,) * 3, (0.2,) * 3, 33_000_000, 40.7,
        127.0, "acc@1", 63.2, 400, "", 16,
    )  # fmt: skip
    assert input_size_text(video) == "16 × 112"
