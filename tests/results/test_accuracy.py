"""Accuracy on a labeled folder: acc@1 and acc@5 from the predictions every deployment wrote, on
a tiny labeled set with known answers, the floor against float32 eager, and what the tables say."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tvdeploy.results.accuracy import accuracy_markdown, accuracy_table, fell_short, imagenet_class_indices
from tvdeploy.results.markdown import precision_markdown
from tvdeploy.results.speedups import ANY_ACCURATE, fastest_by_precision

# Four images of known class: tench (0), goldfish (1), great white shark (2), tiger shark (3).
LABELS = {"img_a": 0, "img_b": 1, "img_c": 2, "img_d": 3}
FLOOR = 0.99
CLASSIFIERS = ["resnet18"]


def top5(image: str, first: int, rest=(10, 11, 12, 13)) -> list[int]:
    return [first, *rest]


def prediction_rows(runtime: str, variant: str, firsts: dict[str, int], fifth_right: set[str] = frozenset(), **extra):
    """Rows of the predictions table: each image's top five classes, ``firsts`` at rank 1; the right
    class at rank 5 for the images in ``fifth_right``."""
    rows = []
    for image, first in firsts.items():
        classes = [first, 10, 11, 12, LABELS[image] if image in fifth_right else 13]
        for rank, cls in enumerate(classes, start=1):
            rows.append(
                {
                    "run": "lab",
                    "model": "resnet18",
                    "image": image,
                    "runtime": runtime,
                    "variant": variant,
                    "device": "cpu",
                    "weights_source": extra.get("weights_source", "pretrained"),
                    "rank": rank,
                    "class_index": cls,
                }
            )
    return rows


def predictions(weights_source: str = "pretrained") -> pd.DataFrame:
    w = {"weights_source": weights_source}
    rows = prediction_rows("eager", "plain", {"img_a": 0, "img_b": 1, "img_c": 2, "img_d": 9}, {"img_d"}, **w)
    # int8 gets one image fewer right at rank 1 (img_c), but has it in its top five.
    rows += prediction_rows("onnxruntime", "int8", {"img_a": 0, "img_b": 1, "img_c": 7, "img_d": 9}, {"img_c"}, **w)
    # OpenVINO float32 matches eager on every image.
    rows += prediction_rows("openvino-python", "plain", {"img_a": 0, "img_b": 1, "img_c": 2, "img_d": 9}, **w)
    # An image without a label (the configured images may include one) and a segmentation model's
    # per-pixel classes (ranked by their share of the pixels) count for nothing.
    rows += prediction_rows("eager", "plain", {"unlabeled": 5}, **w)
    rows += [{**row, "model": "fcn_resnet50"} for row in prediction_rows("eager", "plain", {"img_a": 0}, **w)]
    return pd.DataFrame(rows)


def test_acc1_and_acc5_on_a_labeled_set_with_known_answers():
    table = accuracy_table(predictions(), LABELS, FLOOR, CLASSIFIERS).set_index(["runtime", "variant"])
    eager, int8, ov = (
        table.loc[("eager", "plain")],
        table.loc[("onnxruntime", "int8")],
        table.loc[("openvino-python", "plain")],
    )
    assert eager["images"] == 4 and eager["acc1"] == pytest.approx(0.75) and eager["acc5"] == pytest.approx(1.0)
    assert int8["acc1"] == pytest.approx(0.5) and int8["acc5"] == pytest.approx(0.75)
    assert int8["precision"] == "int8" and eager["precision"] == "float32"
    # 0.5 / 0.75 = 0.667 of eager's: below 99 %; OpenVINO float32 at 100 %.
    assert int8["relative_acc1"] == pytest.approx(2 / 3) and int8["accurate_enough"] is False
    assert ov["relative_acc1"] == pytest.approx(1.0) and ov["accurate_enough"] is True
    assert set(table.index.get_level_values("runtime")) == {"eager", "onnxruntime", "openvino-python"}
    # A lower floor lets int8 through.
    assert (
        accuracy_table(predictions(), LABELS, 0.6, CLASSIFIERS)
        .set_index("runtime")
        .loc["onnxruntime", "accurate_enough"]
        is True
    )


def test_fewer_than_five_classes_kept_gives_no_acc5():
    kept_three = predictions()
    kept_three = kept_three[kept_three["rank"] <= 3]
    table = accuracy_table(kept_three, LABELS, FLOOR, CLASSIFIERS)
    assert table["acc5"].isna().all() and table["acc1"].notna().all()


def test_random_weights_report_accuracy_without_a_verdict():
    table = accuracy_table(predictions("random"), LABELS, FLOOR, CLASSIFIERS)
    assert table["accurate_enough"].isna().all() and not math.isnan(table["acc1"].iloc[0])
    text = accuracy_markdown(table, FLOOR)
    assert "Not judged (weights not pretrained" in text and "resnet18" in text
    assert "% ✗" not in text


def test_no_labels_no_table():
    assert accuracy_table(predictions(), {}, FLOOR, CLASSIFIERS).empty
    assert accuracy_markdown(accuracy_table(predictions(), {}, FLOOR, CLASSIFIERS), FLOOR) == ""


def test_the_markdown_marks_what_falls_below_the_floor():
    text = accuracy_markdown(accuracy_table(predictions(), LABELS, FLOOR, CLASSIFIERS), FLOOR)
    assert "at least 99% of float32 eager's" in text
    assert "| resnet18 |        4 | 75.0% / 100.0%" in text.replace("  ", " ") or "75.0% / 100.0%" in text
    assert "50.0% / 75.0% ✗" in text


def test_the_fastest_deployment_that_meets_the_floor_skips_a_faster_inaccurate_one():
    latency = pd.DataFrame(
        [
            {"runtime": r, "variant": v, "precision": p, "speedup_vs_eager": s, "median_ms": 10 / s}
            for r, v, p, s in [
                ("eager", "plain", "float32", 1.0),
                ("openvino-python", "plain", "float32", 2.0),
                ("onnxruntime", "int8", "int8", 4.0),
            ]
        ]
    ).assign(run="lab", device="cpu", batch_size=1, model="resnet18", speedup_ci_low=0.9, speedup_ci_high=1.1)
    deployability = latency[["run", "device", "model", "runtime", "variant"]].assign(status="ok")
    accuracy = accuracy_table(predictions(), LABELS, FLOOR, CLASSIFIERS)
    table = fastest_by_precision(latency, deployability, accuracy).set_index("precision")
    assert table.loc["int8", "runtime"] == "onnxruntime" and fell_short(table.loc["int8", "accurate_enough"])
    assert table.loc[ANY_ACCURATE, ["runtime", "variant"]].tolist() == ["openvino-python", "plain"]
    text = precision_markdown(latency, deployability, accuracy)
    assert "onnxruntime (int8)" in text and "(below the accuracy floor)" in text and ANY_ACCURATE in text


def test_imagenet_classes_come_in_torchvisions_order():
    assert imagenet_class_indices(["n01440764", "n01443537", "n15075141"]) == {
        "n01440764": 0,
        "n01443537": 1,
        "n15075141": 999,
    }
    with pytest.raises(ValueError, match="n99999999 is no ImageNet-1k class"):
        imagenet_class_indices(["n01440764", "n99999999"])
