import math
import re

import pandas as pd
import pytest
from result_helpers import comparison_record

from tvdeploy.results.float_agreement import (
    FLOAT_AGREEMENT_COLUMNS,
    NO_FLOAT_PREDICTIONS,
    RANDOM_WEIGHTS,
    float_agreement_markdown,
    float_agreement_table,
)
from tvdeploy.results.frames import latency_table, ratios_table
from tvdeploy.results.summary import summary_markdown

SAME = {"float_model": "resnet18", "made_from": "ResNet18_Weights.V1", "float_weights": "ResNet18_Weights.V1"}
OTHER = {
    "float_model": "mobilenet_v2",
    "made_from": "MobileNet_V2_Weights.V1",
    "float_weights": "MobileNet_V2_Weights.V2",
}


def ranked_rows(model, runtime, image, classes, source="pretrained", run="r", device="cpu", variant="plain"):
    return [
        {
            "run": run,
            "model": model,
            "image": image,
            "runtime": runtime,
            "variant": variant,
            "device": device,
            "weights_source": source,
            "rank": rank,
            "class_index": float(c),
        }
        for rank, c in enumerate(classes, start=1)
    ]


def squeezed(markdown):
    """Markdown with its tables' padding collapsed to one space."""
    return re.sub(r" +", " ", markdown)


def frame(*groups):
    return pd.DataFrame([row for group in groups for row in group])


def test_top1_agreement_and_top5_overlap_against_the_float_models_eager_predictions():
    # Three images: the top class agrees on a and b, not on c; the top fives share 5, 4 and 2 classes.
    predictions = frame(
        ranked_rows("quantized_resnet18", "eager", "a", [1, 2, 3, 4, 5]),
        ranked_rows("quantized_resnet18", "eager", "b", [7, 8, 9, 10, 11]),
        ranked_rows("quantized_resnet18", "eager", "c", [20, 21, 22, 23, 24]),
        ranked_rows("resnet18", "eager", "a", [1, 5, 4, 3, 2]),
        ranked_rows("resnet18", "eager", "b", [7, 8, 9, 10, 99]),
        ranked_rows("resnet18", "eager", "c", [21, 20, 97, 98, 99]),
        # Another deployment of the quantized model is compared with the same float predictions.
        ranked_rows("quantized_resnet18", "openvino-python", "a", [2, 1, 3, 4, 5]),
        # A float deployment other than eager is no reference.
        ranked_rows("resnet18", "ts-python", "c", [20, 21, 22, 23, 24]),
    )
    table = float_agreement_table(predictions, {"quantized_resnet18": SAME})
    assert list(table.columns) == FLOAT_AGREEMENT_COLUMNS
    eager = table.set_index("runtime").loc["eager"]
    assert eager["float_model"] == "resnet18" and eager["images"] == 3
    assert eager["top1_agreement"] == pytest.approx(2 / 3)
    assert eager["top5_overlap"] == pytest.approx((5 + 4 + 2) / 15)
    assert eager["comparable"] and eager["note"] == ""
    openvino = table.set_index("runtime").loc["openvino-python"]
    assert (openvino["images"], openvino["top1_agreement"], openvino["top5_overlap"]) == (1, 0.0, 1.0)
    markdown = squeezed(float_agreement_markdown(table))
    assert "| quantized_resnet18 | resnet18 | 3 | 66.7% / 0.73 | 0.0% / 1.00 |" in markdown


def test_without_five_classes_kept_the_overlap_is_missing_not_zero():
    predictions = frame(
        ranked_rows("quantized_resnet18", "eager", "a", [1, 2, 3]),
        ranked_rows("resnet18", "eager", "a", [1, 2, 3]),
    )
    (row,) = float_agreement_table(predictions, {"quantized_resnet18": SAME}).to_dict("records")
    assert row["top1_agreement"] == 1.0 and math.isnan(row["top5_overlap"])


def test_random_weights_other_float_weights_and_a_missing_float_model_say_why_they_do_not_compare():
    predictions = frame(
        ranked_rows("quantized_resnet18", "eager", "a", [1, 2, 3, 4, 5], source="random"),
        ranked_rows("resnet18", "eager", "a", [1, 2, 3, 4, 5], source="random"),
        ranked_rows("quantized_mobilenet_v2", "eager", "a", [1, 2, 3, 4, 5]),
        ranked_rows("mobilenet_v2", "eager", "a", [1, 2, 3, 4, 6]),
        # Its float model ran in another run only: not on this run's inputs.
        ranked_rows("quantized_resnet50", "eager", "a", [1, 2, 3, 4, 5]),
        ranked_rows("resnet50", "eager", "a", [1, 2, 3, 4, 5], run="elsewhere"),
    )
    counterparts = {
        "quantized_resnet18": SAME,
        "quantized_mobilenet_v2": OTHER,
        "quantized_resnet50": {**SAME, "float_model": "resnet50"},
    }
    table = float_agreement_table(predictions, counterparts).set_index("model")
    assert not table["comparable"].any()
    # The numbers are kept; the note says what they are worth.
    assert table.loc["quantized_resnet18", "note"] == RANDOM_WEIGHTS
    assert table.loc["quantized_resnet18", "top1_agreement"] == 1.0
    assert table.loc["quantized_mobilenet_v2", "note"] == (
        "mobilenet_v2 ran MobileNet_V2_Weights.V2; the quantized weights were made from MobileNet_V2_Weights.V1"
    )
    assert table.loc["quantized_mobilenet_v2", "top5_overlap"] == pytest.approx(0.8)
    assert table.loc["quantized_resnet50", "note"] == NO_FLOAT_PREDICTIONS
    assert table.loc["quantized_resnet50", "images"] == 0 and math.isnan(
        table.loc["quantized_resnet50", "top1_agreement"]
    )
    markdown = squeezed(float_agreement_markdown(table.reset_index()))
    # Pretrained on both sides: shown, marked; random weights: not shown at all.
    assert "| quantized_mobilenet_v2 | mobilenet_v2 | 1 | 100.0% / 0.80 † |" in markdown
    assert "† quantized_mobilenet_v2: mobilenet_v2 ran MobileNet_V2_Weights.V2" in markdown
    assert "quantized_resnet18 |" not in markdown
    assert f"Not comparable ({RANDOM_WEIGHTS}) on r · cpu: quantized_resnet18 (resnet18)." in markdown
    assert f"Not comparable ({NO_FLOAT_PREDICTIONS}) on r · cpu: quantized_resnet50 (resnet50)." in markdown


def test_read_back_from_its_csv_the_table_renders_the_same(tmp_path):
    predictions = frame(
        ranked_rows("quantized_resnet18", "eager", "a", [1, 2, 3, 4, 5]),
        ranked_rows("resnet18", "eager", "a", [1, 2, 3, 4, 5]),
    )
    table = float_agreement_table(predictions, {"quantized_resnet18": SAME})
    table.to_csv(tmp_path / "t.csv", index=False)
    assert float_agreement_markdown(pd.read_csv(tmp_path / "t.csv")) == float_agreement_markdown(table)


def test_no_quantized_model_gives_an_empty_table_and_no_section():
    predictions = frame(ranked_rows("resnet18", "eager", "a", [1, 2, 3, 4, 5]))
    table = float_agreement_table(predictions, {"quantized_resnet18": SAME})
    assert table.empty and list(table.columns) == FLOAT_AGREEMENT_COLUMNS
    assert float_agreement_markdown(table) == ""


def test_the_summary_has_a_section_for_the_quantized_models_only_where_there_are_some():
    records = [comparison_record("quantized_resnet18", {"eager/plain": 20.0, "ts-cpp/plain": 10.0}, run="r")]
    latency, ratios = latency_table(records), ratios_table(records)
    deployability = pd.DataFrame(columns=["run", "device", "model", "runtime", "variant", "status"])
    predictions = frame(
        ranked_rows("quantized_resnet18", "eager", "a", [1, 2, 3, 4, 5]),
        ranked_rows("resnet18", "eager", "a", [1, 2, 3, 4, 6]),
    )
    agreement = float_agreement_table(predictions, {"quantized_resnet18": SAME})
    text = summary_markdown(latency, ratios, deployability, {"run": "r"}, {}, float_agreement=agreement)
    section = text.split("## Quantized models against their float models\n", 1)[1]
    assert "| quantized_resnet18 | resnet18 | 1 | 100.0% / 0.80 |" in squeezed(section)
    assert "## Quantized models" not in summary_markdown(latency, ratios, deployability, {"run": "r"}, {})
