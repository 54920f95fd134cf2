"""A preprocessed input that does not fit its model is refused from its sidecar, naming the file."""

import json

import pytest
from conftest import REPO_ROOT

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.inputs.fit import InputMismatchError, check_inputs_fit, expected_input

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")


def sidecar_only(tmp_path, name, shape, layout="NCHW"):
    """A .dat that must never be read: its sidecar alone, the .dat itself absent."""
    (tmp_path / f"{name}.json").write_text(json.dumps({"shape": shape, "layout": layout, "dtype": "float32"}))
    return tmp_path / f"{name}.dat"


def test_expected_input_per_task():
    assert expected_input(CATALOG["resnet50"]) == {
        "model": "resnet50",
        "layout": "NCHW",
        "axes": {"C": 3, "H": 224, "W": 224},
    }
    assert expected_input(CATALOG["lraspp_mobilenet_v3_large"])["axes"] == {"C": 3}


def test_segmentation_takes_any_height_and_width(tmp_path):
    expected = expected_input(CATALOG["lraspp_mobilenet_v3_large"])
    dats = [sidecar_only(tmp_path, "a", [1, 3, 520, 780]), sidecar_only(tmp_path, "b", [2, 3, 777, 520])]
    check_inputs_fit(dats, **expected)


@pytest.mark.parametrize(
    ("model", "shape", "layout", "message"),
    [
        ("lraspp_mobilenet_v3_large", [1, 1, 520, 780], "NCHW", r"has C=1, but lraspp_mobilenet_v3_large takes C=3"),
        ("lraspp_mobilenet_v3_large", [1, 520, 780, 3], "NHWC", r"layout 'NHWC', but .* takes NCHW"),
        ("lraspp_mobilenet_v3_large", [3, 520, 780], "CHW", r"layout 'CHW'"),
        ("resnet50", [1, 3, 520, 694], "NCHW", r"has H=520, W=694, but resnet50 takes H=224, W=224"),
        ("resnet50", [1, 4, 224, 224], "NCHW", r"has C=4"),
    ],
)
def test_a_dat_that_does_not_fit_is_refused_before_it_is_read(tmp_path, model, shape, layout, message):
    dat = sidecar_only(tmp_path, "bad", shape, layout)
    with pytest.raises(InputMismatchError, match=message) as err:
        check_inputs_fit([dat], **expected_input(CATALOG[model]))
    assert str(dat) in str(err.value)


def test_a_missing_sidecar_is_named(tmp_path):
    with pytest.raises(InputMismatchError, match="cannot read sidecar .*x.json"):
        check_inputs_fit([tmp_path / "x.dat"], **expected_input(CATALOG["resnet50"]))


def test_a_video_model_takes_clips_of_its_length_and_crop(tmp_path):
    expected = expected_input(CATALOG["r3d_18"])
    assert expected == {"model": "r3d_18", "layout": "NCTHW", "axes": {"C": 3, "T": 16, "H": 112, "W": 112}}
    check_inputs_fit([sidecar_only(tmp_path, "ok", [1, 3, 16, 112, 112], "NCTHW")], **expected)
    short = sidecar_only(tmp_path, "short", [1, 3, 8, 112, 112], "NCTHW")
    with pytest.raises(InputMismatchError, match=r"short.dat: shape .* has T=8, but r3d_18 takes T=16"):
        check_inputs_fit([short], **expected)
    image = sidecar_only(tmp_path, "image", [1, 3, 112, 112], "NCHW")
    with pytest.raises(InputMismatchError, match=r"image.dat: layout 'NCHW', but r3d_18 takes NCTHW"):
        check_inputs_fit([image], **expected)
