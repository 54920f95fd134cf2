import pytest
from conftest import REPO_ROOT

from tvdeploy.catalog.sheet import (
    UnknownModelError,
    catalog_from_torchvision,
    preprocess_spec_id,
    read_sheet,
    resolve_models,
    sha256_prefix_from_url,
    write_sheet,
)

SHEET = REPO_ROOT / "config" / "models.tsv"


@pytest.fixture(scope="module")
def sheet():
    return read_sheet(SHEET)


def test_sheet_matches_installed_torchvision(sheet):
    # Fails when torchvision changes; fix with `make model-sheet`.
    live = catalog_from_torchvision()
    assert list(sheet) == list(live)
    for name, info in live.items():
        assert sheet[name] == info, f"{name}: config/models.tsv is stale, run `make model-sheet`"


SEGMENTATION_MODELS = {
    "fcn_resnet50",
    "fcn_resnet101",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large",
}


def test_sheet_has_every_classification_and_segmentation_model(sheet):
    # 80 float classifiers, 12 eager-quantized ones (torchvision.models.quantization), 6 segmenters.
    assert len(sheet) == 98
    assert {"googlenet", "inception_v3", "vit_h_14", "regnet_y_128gf", "squeezenet1_1"} <= set(sheet)
    assert {m for m, info in sheet.items() if info.task == "segmentation"} == SEGMENTATION_MODELS
    assert sum(info.task == "classification" for info in sheet.values()) == 92
    quantized = {name: info.quantized_engine for name, info in sheet.items() if info.quantized}
    assert len(quantized) == 12 and all(sheet[name].task == "classification" for name in quantized)
    assert quantized["quantized_resnet50"] == "fbgemm"
    assert quantized["quantized_mobilenet_v3_large"] == quantized["quantized_mobilenet_v2"] == "qnnpack"
    # Same preset as the float model they quantize.
    assert sheet["quantized_resnet50"].spec_id == sheet["resnet50"].spec_id


def test_segmentation_rows_resize_without_a_crop(sheet):
    info = sheet["lraspp_mobilenet_v3_large"]
    assert (info.resize_size, info.crop_size, info.fixed_input_size) == (520, None, False)
    assert info.spec_id == "r520_nocrop_bilinear_in1k"
    # The example is the shorter side at 3:4 (the adapter's example input); real inputs follow the image.
    assert info.input_shape == (1, 3, 520, 694)
    assert "crop_size" not in info.preprocess_spec() and info.preprocess_spec()["resize_size"] == 520
    # torchvision publishes "miou"; the registry names the metric "mIoU".
    assert (info.metric, info.metric_value, info.num_classes) == ("mIoU", 57.9, 21)
    assert sheet["deeplabv3_resnet101"].metric_value == 67.4
    # Every segmentation model shares one preprocessed file per image.
    assert {sheet[m].spec_id for m in SEGMENTATION_MODELS} == {info.spec_id}
    assert sheet["resnet50"].fixed_input_size


def test_declared_transforms_are_per_model(sheet):
    assert (sheet["resnet50"].resize_size, sheet["resnet50"].crop_size) == (232, 224)
    assert (sheet["inception_v3"].resize_size, sheet["inception_v3"].crop_size) == (342, 299)
    assert sheet["efficientnet_b0"].interpolation == "bicubic"
    assert sheet["vit_h_14"].input_shape == (1, 3, 518, 518)
    assert sheet["resnet50"].spec_id == "r232_c224_bilinear_in1k"
    # efficientnet_v2_l normalises with 0.5/0.5, so it must not share a file with ImageNet-normalised specs.
    v2_l = sheet["efficientnet_v2_l"]
    assert v2_l.mean == (0.5, 0.5, 0.5) and not v2_l.spec_id.endswith("in1k")
    assert v2_l.spec_id not in {info.spec_id for name, info in sheet.items() if name != "efficientnet_v2_l"}


def test_identical_specs_share_one_id(sheet):
    assert sheet["resnet18"].spec_id == sheet["alexnet"].spec_id == "r256_c224_bilinear_in1k"
    assert (
        preprocess_spec_id(256, 224, "bilinear", True, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        == sheet["resnet18"].spec_id
    )
    assert preprocess_spec_id(520, None, "bilinear", False, (0.5,) * 3, (0.5,) * 3).startswith("r520_nocrop_bilinear_n")


def test_sheet_roundtrip(tmp_path, sheet):
    out = tmp_path / "models.tsv"
    write_sheet(sheet, out)
    assert read_sheet(out) == sheet


def test_sha256_prefix_from_url():
    assert sha256_prefix_from_url("https://x/models/resnet18-f37072fd.pth") == "f37072fd"
    assert sha256_prefix_from_url("https://x/mnasnet0.5_top1_67.823-3ffadce67e.pth") == "3ffadce67e"
    assert sha256_prefix_from_url("https://x/nohash.pth") == ""


def test_resolve_models(sheet):
    assert resolve_models("all", sheet) == list(sheet)
    assert resolve_models(["resnet18", "googlenet", "resnet18"], sheet) == ["resnet18", "googlenet"]


def test_unknown_model_names_closest(sheet):
    with pytest.raises(UnknownModelError) as err:
        resolve_models(["resnet05", "squeezenet"], sheet)
    message = str(err.value)
    assert "'resnet05'" in message and "resnet50" in message
    assert "squeezenet1_0" in message


def test_schema_requires_a_crop_exactly_where_the_task_crops():
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    from tvdeploy.catalog.sheet import sheet_frame

    schema = str(REPO_ROOT / "workflow" / "schemas" / "models.schema.yaml")
    sheet = sheet_frame(SHEET)
    validate(sheet.copy(), schema)
    segmentation = sheet.index[sheet["task"] == "segmentation"][0]
    for row, crop in ((0, float("nan")), (segmentation, 224)):  # a classifier without, a segmenter with
        bad = sheet.copy()
        bad.loc[row, "crop_size"] = crop
        with pytest.raises(WorkflowError, match=f"row {row}"):
            validate(bad, schema)
