"""Records to tables (tvdeploy.results.frames): speedups, parity rows, prediction rows, overhead."""

import pandas as pd
import pytest
from result_helpers import comparison_record

from tvdeploy.results.frames import latency_table, predictions_table
from tvdeploy.results.markdown import latency_markdown
from tvdeploy.results.parity import PARITY_AGREES, PARITY_DIFFERS, PARITY_NOT_CHECKED, parity_table, passes_parity
from tvdeploy.tasks.classification import compare_predictions


def test_latency_table_speedups_and_order():
    table = latency_table([comparison_record("m", {"ts-cpp/plain": 5.0, "eager/plain": 10.0, "ts-python/plain": 8.0})])
    assert list(table["runtime"]) == ["eager", "ts-python", "ts-cpp"]
    # Paired over the rounds: the drift cancels, the intervals are tight around the true speedup.
    assert list(table["speedup_vs_eager"]) == pytest.approx([1.0, 1.25, 2.0])
    assert list(table["speedup_ci_low"]) == pytest.approx([1.0, 1.25, 2.0])
    assert list(table["verdict_vs_eager"][1:]) == ["faster", "faster"]
    assert table["rounds"].tolist() == [3, 3, 3] and (table["round_median_spread"] > 0.15).all()
    markdown = latency_markdown(table)
    assert "ts-cpp (plain)" in markdown and "| m " in markdown and "2.00 [2.00, 2.00]" in markdown


def test_failed_deployment_is_a_row_with_its_error_and_no_ratio():
    from tvdeploy.results.frames import ratios_table

    record = comparison_record("m", {"eager/plain": 10.0, "ts-cpp/plain": 5.0}, failed=("ts-cpp/plain",))
    table = latency_table([record])
    failed = table[table["runtime"] == "ts-cpp"].iloc[0]
    assert "exit status -11" in failed["error"] and failed["median_ms"] != failed["median_ms"]  # NaN
    ratios = ratios_table([record])
    assert ratios["verdict"].isna().all() and (ratios["rounds"] == 0).all()


def prediction(logits, image="a"):
    return {
        "results": [
            {
                "input": f"results/inputs/spec/{image}.dat",
                "row": 0,
                "logits": logits,
                "topk": [{"rank": 1, "class_index": 0, "label": "x", "probability": 0.5}],
            }
        ]
    }


def test_compare_predictions_per_image():
    ref = prediction([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    cand = prediction([1.0, 2.0, 3.0, 4.0, 5.0, 6.5])
    rows = compare_predictions(ref, cand, rtol=1e-4, atol=1e-5, identity={"model": "m"})
    assert rows[0]["image"] == "a" and rows[0]["max_abs_diff"] == pytest.approx(0.5)
    assert not rows[0]["within_tolerance"] and rows[0]["top5_match"]
    with pytest.raises(KeyError, match="lack image b"):
        compare_predictions(ref, prediction([0.0] * 6, image="b"), 1e-4, 1e-5, {})


def test_parity_table_takes_the_worst_image():
    comparisons = [
        {
            "model": "m",
            "device": "cpu",
            "runtime": "ts-cpp",
            "variant": "plain",
            "reference": "ts-python/plain",
            "image": img,
            "max_abs_diff": diff,
            "tolerance": 1e-3,
            "logits_max_abs": 5.0,
            "relative_diff": diff / 5.0,
            "top1_match": True,
            "top5_overlap": 1.0 if match else 0.8,
            "top5_match": match,
            "within_tolerance": diff <= 1e-3,
        }
        for img, diff, match in [("a", 1e-6, True), ("b", 2e-4, False)]
    ]
    # The same check in a run copied in from a cluster, whose weights source is keyed by its run.
    table = parity_table(
        [{"run": "laptop", "comparisons": comparisons}, {"run": "gpu01", "comparisons": comparisons}],
        {"m": "random", ("gpu01", "m"): "pretrained"},
    )
    assert list(table["run"]) == ["gpu01", "laptop"]
    row = table.set_index("run").loc["laptop"]
    assert row["images"] == 2 and row["max_abs_diff"] == 2e-4 and not row["top5_match"]
    assert row["weights_source"] == "random" and row["within_tolerance"]
    # Agreement as shares of the images (what a reduced precision is read by), the worst relative Δ.
    assert (row["top1_agreement"], row["top5_overlap"], row["relative_diff"]) == (1.0, 0.8, 4e-5)
    assert table.set_index("run").loc["gpu01", "weights_source"] == "pretrained"


def test_predictions_table_rows():
    record = {
        **prediction([0.0]),
        "run": "laptop",
        "model": "m",
        "runtime": "ts-cpp",
        "variant": "plain",
        "device": "cpu",
    }
    table = predictions_table([record], {"m": "pretrained"})
    assert table.to_dict("records") == [
        {
            "run": "laptop",
            "model": "m",
            "image": "a",
            "runtime": "ts-cpp",
            "variant": "plain",
            "device": "cpu",
            "weights_source": "pretrained",
            "rank": 1,
            "class_index": 0,
            "label": "x",
            "probability": 0.5,
            "pixel_fraction": None,
        }
    ]


def test_parity_table_without_pairs_is_empty_but_shaped():
    table = parity_table([{"run": "laptop", "comparisons": []}], {})
    assert table.empty and {"run", "model", "runtime", "reference", "max_abs_diff", "top5_match"} <= set(table.columns)


def test_overhead_and_throughput_tables():
    from tvdeploy.measure.bench import summarize_rounds
    from tvdeploy.results.frames import overhead_table
    from tvdeploy.results.markdown import throughput_markdown

    records = [
        {
            "run": "laptop",
            "device": "cpu",
            "threads": 2,
            "runtime": rt,
            "summary": summarize_rounds([{"latencies_ms": [ms, ms, ms]}], 1),
        }
        for rt, ms in [("eager", 0.003), ("ts-python", 0.006), ("ts-cpp", 0.001)]
    ]
    table = overhead_table(records)
    assert list(table["runtime"]) == ["eager", "ts-python", "ts-cpp"]
    assert table["median_us"].tolist() == pytest.approx([3.0, 6.0, 1.0])

    rows = [comparison_record("m", {"eager/plain": 10.0, "ts-cpp/plain": 5.0}, batch=batch) for batch in (1, 8)]
    markdown = throughput_markdown(latency_table(rows))
    assert "laptop · cpu, batch 8: throughput" in markdown and "batch 1" not in markdown
    assert "1600" in markdown and "800" in markdown  # 8 images / 5 ms, 8 images / 10 ms (pooled medians)


def segmentation_row(runtime, image, agreement, discriminates=True):
    """A segmentation parity row as its adapter's compare_predictions writes it."""
    return {
        "model": "lraspp",
        "device": "cpu",
        "runtime": runtime,
        "variant": "plain",
        "reference": "eager/plain",
        "image": image,
        "argmax_agreement": agreement,
        "discriminates": discriminates,
        "argmax_agrees": agreement >= 0.99 if discriminates else None,
        "max_fraction_diff": 1 - agreement,
        "within_tolerance": agreement >= 0.99 or not discriminates,
    }


def test_parity_table_holds_both_tasks_and_never_passes_an_unchecked_check():
    classification = [
        {"model": "m", "device": "cpu", "runtime": "ts-cpp", "variant": "plain", "reference": "ts-python/plain",
         "image": "a", "max_abs_diff": 1e-6, "tolerance": 1e-3, "logits_max_abs": 5.0, "top5_match": True,
         "within_tolerance": True},  # no "discriminates": a record from before the key, which could
        {"model": "m", "device": "cpu", "runtime": "onnxruntime", "variant": "plain", "reference": "eager/plain",
         "image": "a", "max_abs_diff": 0.0, "tolerance": 1e-3, "logits_max_abs": 0.0, "top5_match": True,
         "discriminates": False, "within_tolerance": True},  # a constant logits row
    ]  # fmt: skip
    segmentation = [
        segmentation_row("ts-python", "a", 1.0, discriminates=False),  # one-class masks on both images
        segmentation_row("ts-python", "b", 1.0, discriminates=False),
        segmentation_row("ts-cpp", "a", 0.995),  # one image could discriminate, and agrees
        segmentation_row("ts-cpp", "b", 1.0, discriminates=False),
        segmentation_row("onnxruntime", "a", 0.9),  # a miss
        segmentation_row("onnxruntime", "b", 1.0, discriminates=False),
    ]
    table = parity_table([{"run": "r", "comparisons": classification + segmentation}], {})
    rows = table.set_index(["model", "runtime"])
    assert rows.loc[("m", "ts-cpp"), "verdict"] == PARITY_AGREES and rows.loc[("m", "ts-cpp"), "images_checked"] == 1
    assert rows.loc[("m", "onnxruntime"), "verdict"] == PARITY_NOT_CHECKED
    assert rows.loc[("lraspp", "ts-python"), "verdict"] == PARITY_NOT_CHECKED
    assert rows.loc[("lraspp", "ts-python"), "within_tolerance"]  # within, yet not a pass
    assert rows.loc[("lraspp", "ts-cpp"), "verdict"] == PARITY_AGREES
    assert rows.loc[("lraspp", "ts-cpp"), ["images", "images_checked"]].tolist() == [2, 1]
    assert rows.loc[("lraspp", "onnxruntime"), "verdict"] == PARITY_DIFFERS
    assert rows.loc[("lraspp", "onnxruntime"), "argmax_agreement"] == 0.9
    # Each task's fields side by side, NaN where the task does not measure them.
    assert pd.isna(rows.loc[("lraspp", "ts-cpp"), "max_abs_diff"]) and pd.isna(
        rows.loc[("m", "ts-cpp"), "argmax_agreement"]
    )
    assert rows.loc[("lraspp", "ts-cpp"), "top5_match"] is None and rows.loc[("m", "ts-cpp"), "top5_match"]
    assert [passes_parity(v) for v in table["verdict"]] == [v == PARITY_AGREES for v in table["verdict"]]
    assert not passes_parity(PARITY_NOT_CHECKED)


def test_predictions_table_lists_a_segmentation_image_by_pixel_share():
    result = {"input": "x/a.dat", "row": 0, "class_fractions": [0.25, 0.0, 0.75], "mask": {}}
    record = {
        "run": "r",
        "model": "lraspp",
        "runtime": "eager",
        "variant": "plain",
        "device": "cpu",
        "results": [result],
    }
    table = predictions_table([record], {"lraspp": "random"})
    assert table[["rank", "class_index", "pixel_fraction"]].to_dict("records") == [
        {"rank": 1, "class_index": 2, "pixel_fraction": 0.75},
        {"rank": 2, "class_index": 0, "pixel_fraction": 0.25},
    ]
    assert table["probability"].isna().all()


def test_an_optical_flow_model_has_pair_rows_in_the_predictions_and_epe_in_the_parity_table():
    from tvdeploy.results.deployability import parity_detail

    inputs = ["results/inputs/s/chelsea_pan.image1.dat", "results/inputs/s/chelsea_pan.image2.dat"]
    record = {
        "run": "laptop",
        "model": "raft_small",
        "runtime": "ts-cpp",
        "variant": "plain",
        "device": "cpu",
        "results": [{"input": inputs[0], "inputs": inputs, "row": 0, "mean_flow": [-4.0, -2.0], "mean_magnitude": 4.5}],
    }
    (row,) = predictions_table([record], {"raft_small": "random"}).to_dict("records")
    # One row per pair, named by the pair (not its first file), with its mean flow (px).
    assert row["image"] == "chelsea_pan" and row["rank"] == 1
    assert (row["flow_mean_u"], row["flow_mean_v"], row["flow_mean_magnitude"]) == (-4.0, -2.0, 4.5)
    comparisons = [
        {
            "model": "raft_small",
            "device": "cpu",
            "runtime": "openvino-python",
            "variant": "plain",
            "reference": "eager",
            "image": "chelsea_pan",
            "mean_epe": 1e-5,
            "max_epe": 5e-5,
            "tolerance": 1e-3,
            "flow_mean_magnitude": 4.5,
            "within_tolerance": True,
            "discriminates": True,
        }
    ]
    check = parity_table([{"run": "laptop", "comparisons": comparisons}], {}).iloc[0]
    assert (check["mean_epe"], check["max_epe"], check["verdict"]) == (1e-5, 5e-5, PARITY_AGREES)
    assert pd.isna(check["max_abs_diff"]) and pd.isna(check["top5_match"])
    assert "max end-point error 5e-05 px (mean 1e-05), 0.05× tolerance" in parity_detail(check)


def test_a_detector_has_detection_rows_in_the_predictions_and_matching_in_the_parity_table():
    from tvdeploy.results.deployability import parity_detail
    from tvdeploy.results.markdown import parity_cells

    model = "fasterrcnn_mobilenet_v3_large_320_fpn"
    detections = [
        {"box": [1.0, 2.0, 30.5, 40.25], "label": 17, "category": "cat", "score": 0.25},
        {"box": [5.0, 6.0, 7.0, 8.0], "label": 0, "category": "__background__", "score": 0.75},
    ]
    record = {
        "run": "laptop",
        "model": model,
        "runtime": "ts-cpp",
        "variant": "plain",
        "device": "cpu",
        "results": [
            {"input": "results/inputs/s/chelsea_cat.dat", "row": 0, "detections": detections},
            # A detector may find nothing in an image: no row, no error.
            {"input": "results/inputs/s/coffee_cup.dat", "row": 0, "detections": []},
        ],
    }
    rows = predictions_table([record], {model: "random"}).to_dict("records")
    # By descending score, each with its category, score and box.
    assert [(r["image"], r["rank"], r["label"], r["class_index"], r["score"]) for r in rows] == [
        ("chelsea_cat", 1, "__background__", 0, 0.75),
        ("chelsea_cat", 2, "cat", 17, 0.25),
    ]
    assert rows[1]["box"] == [1.0, 2.0, 30.5, 40.25] and pd.isna(rows[0]["probability"])
    comparison = {
        "model": model,
        "device": "cpu",
        "runtime": "onnxruntime",
        "variant": "plain",
        "reference": "eager",
        "reference_count": 100,
        "candidate_count": 100,
        "matched": 100,
        "matched_fraction": 1.0,
        "min_matched_iou": 0.9999,
        "mean_matched_iou": 1.0,
        "max_score_diff": 2e-6,
        "tolerance": 1e-4,
        "within_tolerance": True,
        "discriminates": True,
    }
    comparisons = [
        {**comparison, "image": "chelsea_cat"},
        {**comparison, "image": "coffee_cup", "matched_fraction": 0.99},
    ]
    check = parity_table([{"run": "laptop", "comparisons": comparisons}], {}).iloc[0]
    assert (check["matched_fraction"], check["min_matched_iou"], check["verdict"]) == (0.99, 0.9999, PARITY_AGREES)
    assert pd.isna(check["max_abs_diff"]) and pd.isna(check["max_epe"]) and pd.isna(check["min_mask_iou"])
    detail = parity_detail(check)
    assert "detections matched 99.0%, smallest matched IoU 0.9999, max score |Δ| 0.02× tolerance" in detail, detail
    assert parity_cells(pd.DataFrame([check]))["parity max Δ / tolerance"] == "0.02"
    # An image where eager's own detections moved with the thread count judges a gross difference
    # only: it does not count as checked, and the detail gives eager's own figures.
    moving = {
        **comparison,
        "image": "falcon9_rocket",
        "min_matched_iou": 0.76,
        "max_score_diff": 1e-3,
        "discriminates": False,
        "moves_with_threads": True,
        "eager_threads_min_matched_iou": 0.75,
        "eager_threads_max_score_diff": 2e-3,
    }
    check = parity_table([{"run": "laptop", "comparisons": [*comparisons, moving]}], {}).iloc[0]
    assert (check["images"], check["images_checked"], check["images_moving_with_threads"]) == (3, 2, 1)
    assert check["verdict"] == PARITY_AGREES and check["eager_threads_min_matched_iou"] == 0.75
    assert "1 image(s) where eager's own detections at another thread count moved beyond tolerance " in (
        parity_detail(check)
    )
    assert "(smallest matched IoU 0.7500, max score |Δ| 20× tolerance) judge a gross difference only" in (
        parity_detail(check)
    )


def test_builds_table_says_how_each_artifact_was_built():
    from tvdeploy.results.frames import builds_table

    record = {"run": "laptop", "model": "m", "artifact": "onnx", "status": "ok", "build_s": 57.0, "job_s": 65.0}
    table = builds_table([{**record, "method": "torch.onnx.export(dynamo=False)"}, {**record, "model": "a"}])
    assert list(table["model"]) == ["a", "m"] and table.columns[4] == "method"
    assert table.loc[1, "method"] == "torch.onnx.export(dynamo=False)" and pd.isna(table.loc[0, "method"])
