import re

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
from tvdeploy.plan.inputs import float_counterparts
from tvdeploy.plan.wildcards import SPEC_PATTERN

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


VIDEO_MODELS = {"r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s", "swin3d_t", "swin3d_s", "swin3d_b"}


DETECTION_MODELS = {
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
    "keypointrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn",
    "maskrcnn_resnet50_fpn_v2",
    "retinanet_resnet50_fpn",
    "retinanet_resnet50_fpn_v2",
    "ssd300_vgg16",
    "ssdlite320_mobilenet_v3_large",
}


def test_sheet_has_every_model_of_every_task(sheet):
    # 80 float classifiers, 12 eager-quantized ones (torchvision.models.quantization), 6 segmenters,
    # 9 video classifiers, 2 optical-flow models, 12 detectors: all 121 of torchvision's.
    assert len(sheet) == 121
    assert {m for m, info in sheet.items() if info.task == "detection"} == DETECTION_MODELS
    # ObjectDetection neither resizes nor crops (the models resize inside): a spec of its own.
    detector = sheet["fasterrcnn_mobilenet_v3_large_320_fpn"]
    assert (detector.resize_size, detector.crop_size, detector.metric) == (None, None, "box_map")
    assert detector.spec_id.startswith("full_nocrop_n") and detector.num_classes == 91
    assert sheet["keypointrcnn_resnet50_fpn"].num_classes == 2
    assert {m for m, info in sheet.items() if info.task == "video"} == VIDEO_MODELS
    assert {m for m, info in sheet.items() if info.task == "optical_flow"} == {"raft_small", "raft_large"}
    assert {"googlenet", "inception_v3", "vit_h_14", "regnet_y_128gf", "squeezenet1_1"} <= set(sheet)
    assert {m for m, info in sheet.items() if info.task == "segmentation"} == SEGMENTATION_MODELS
    assert sum(info.task == "classification" for info in sheet.values()) == 92
    quantized = {name: info.quantized_engine for name, info in sheet.items() if info.quantized}
    assert len(quantized) == 12 and all(sheet[name].task == "classification" for name in quantized)
    assert quantized["quantized_resnet50"] == "fbgemm"
    assert quantized["quantized_mobilenet_v3_large"] == quantized["quantized_mobilenet_v2"] == "qnnpack"
    # Same preset as the float model they quantize.
    assert sheet["quantized_resnet50"].spec_id == sheet["resnet50"].spec_id


def test_each_quantized_model_names_the_float_model_and_weights_it_was_made_from(sheet):
    counterparts = float_counterparts(sheet)
    assert counterparts == {m: m.removeprefix("quantized_") for m, info in sheet.items() if info.quantized}
    assert (
        sheet["quantized_resnet50"].unquantized_weights == sheet["resnet50"].weights == "ResNet50_Weights.IMAGENET1K_V2"
    )
    # The mobilenets were quantized from V1 weights; their float models' DEFAULT is V2 (another recipe).
    assert sheet["quantized_mobilenet_v2"].unquantized_weights == "MobileNet_V2_Weights.IMAGENET1K_V1"
    assert sheet["mobilenet_v2"].weights == "MobileNet_V2_Weights.IMAGENET1K_V2"
    assert all(info.unquantized_weights == "" for info in sheet.values() if not info.quantized)
    without_float = {m: info for m, info in sheet.items() if m != "resnet18"}
    with pytest.raises(
        ValueError, match="quantized_resnet18: its weights were made from ResNet18_Weights.IMAGENET1K_V1"
    ):
        float_counterparts(without_float)


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


def test_video_rows_hold_their_exact_resize_and_clip_length(sheet):
    r3d = sheet["r3d_18"]
    # The ResNet-3Ds resize to exactly 128x171 (H, W), not a shorter side: the cell keeps both.
    assert (r3d.resize_size, r3d.crop_size, r3d.clip_len, r3d.antialias) == ((128, 171), 112, 16, False)
    # Kinetics normalisation (hashed) and no antialias (the preset resizes with antialias=False).
    assert r3d.spec_id.startswith("r128x171_c112_t16_bilinear_n") and r3d.spec_id.endswith("_noaa")
    assert r3d.input_shape == (1, 3, 16, 112, 112) and r3d.fixed_input_size
    assert r3d.preprocess_spec()["resize_size"] == [128, 171] and r3d.preprocess_spec()["clip_len"] == 16
    assert (r3d.metric, r3d.metric_value, r3d.num_classes) == ("acc@1", 63.2, 400)
    # s3d resizes to exactly 256x256, mvit to a shorter side of 256: different recipes.
    assert sheet["s3d"].resize_size == (256, 256) and sheet["mvit_v2_s"].resize_size == 256
    # The documented evaluation clip lengths: 16 (ResNet-3Ds, mvit), 32 (swin3d); s3d's 128 capped at 32.
    assert {m: sheet[m].clip_len for m in ("mc3_18", "mvit_v1_b", "swin3d_b", "s3d")} == {
        "mc3_18": 16,
        "mvit_v1_b": 16,
        "swin3d_b": 32,
        "s3d": 32,
    }
    assert len({sheet[m].spec_id for m in ("r3d_18", "mc3_18", "r2plus1d_18")}) == 1
    assert len({sheet[m].spec_id for m in VIDEO_MODELS}) == 4
    assert all(info.clip_len is None for m, info in sheet.items() if m not in VIDEO_MODELS)


def test_documented_clip_len_reads_the_weights_docs_within_their_limits():
    from tvdeploy.catalog.sheet import MAX_CLIP_LEN, documented_clip_len

    assert documented_clip_len({"_docs": "with `clips_per_video=5`, and `clip_len=16`."}) == 16
    assert documented_clip_len({"_docs": "`clip_len=128`", "min_temporal_size": 14}) == MAX_CLIP_LEN
    assert documented_clip_len({"_docs": "`clip_len=8`", "min_temporal_size": 14}) == 14
    with pytest.raises(ValueError, match="no clip_len"):
        documented_clip_len({"_docs": "ported from the paper"})


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


@pytest.mark.parametrize("model", ["raft_small", "ssdlite320_mobilenet_v3_large"])
def test_a_preset_without_parameters_gives_a_row_without_resize(tmp_path, model):
    # ObjectDetection and OpticalFlow hold no attributes: the row records no resize, crop or
    # interpolation, and the normalisation FIXED_PRESET_NORMALISATION says they apply.
    import torch
    from snakemake.utils import validate
    from torchvision.models import get_model_weights

    from tvdeploy.catalog.sheet import info_from_weights, sheet_frame
    from tvdeploy.tasks import task_of_weights

    weights = get_model_weights(model).DEFAULT
    info = info_from_weights(model, task_of_weights(weights), weights)
    assert (info.resize_size, info.crop_size, info.interpolation) == (None, None, "")
    assert info.spec_id.startswith("full_nocrop_n") and info.spec_id == preprocess_spec_id(
        None, None, "", False, info.mean, info.std
    )
    assert "resize_size" not in info.preprocess_spec() and not info.fixed_input_size
    assert info.input_shape[2:] == ((192, 256) if info.task == "optical_flow" else (480, 640))
    assert info.num_classes == (0 if info.task == "optical_flow" else 91)
    # The recorded normalisation is what the preset does to a [0, 255] image.
    image = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8)
    preset = weights.transforms()
    got = preset(image, image)[0] if info.task == "optical_flow" else preset(image[0])
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (info.mean, info.std))
    torch.testing.assert_close(got.reshape(3, 8, 8), (image[0] / 255 - mean) / std)
    # The row survives the sheet and its schema, and its spec id the wildcard constraint.
    out = tmp_path / "models.tsv"
    write_sheet({model: info}, out)
    assert read_sheet(out) == {model: info}
    validate(sheet_frame(out), str(REPO_ROOT / "workflow" / "schemas" / "models.schema.yaml"))
    assert re.fullmatch(SPEC_PATTERN, info.spec_id)
    # The first published figure of the task's metric (RAFT: Sintel train clean pass).
    assert info.metric_value == weights.meta["_metrics"][next(iter(weights.meta["_metrics"]))][info.metric.lower()]
