"""Inputs: the .dat format (any rank, its layout), bad files, and images of any mode or corrupt."""

import json

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.inputs.dat import DatFormatError, read_dat, sidecar_path, write_dat
from tvdeploy.inputs.images import ImageReadError
from tvdeploy.tasks.classification import preprocess

IMAGES = sorted((REPO_ROOT / "data" / "images").glob("*.*g"))
CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")


def test_dat_roundtrip_and_sidecar(tmp_path):
    tensor = torch.randn(1, 3, 8, 6)
    dat = tmp_path / "x.dat"
    write_dat(tensor, dat, "NCHW", {"crop_size": 8})
    assert dat.stat().st_size == tensor.numel() * 4
    meta = json.loads(sidecar_path(dat).read_text())
    assert meta["shape"] == [1, 3, 8, 6] and meta["dtype"] == "float32" and meta["crop_size"] == 8
    assert torch.equal(read_dat(dat), tensor)
    # Raw little-endian float32, C order: readable without torch.
    assert np.array_equal(np.fromfile(dat, dtype="<f4").reshape(1, 3, 8, 6), tensor.numpy())


@pytest.mark.parametrize("delta", [-4, 4, -1])
def test_dat_of_wrong_size_is_refused(tmp_path, delta):
    dat = tmp_path / "x.dat"
    write_dat(torch.zeros(1, 3, 4, 4), dat, "NCHW", {})
    data = dat.read_bytes()
    dat.write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)
    with pytest.raises(DatFormatError, match=r"bytes, but shape \[1, 3, 4, 4\]"):
        read_dat(dat)


def test_dat_of_any_rank_round_trips_with_its_layout(tmp_path):
    dat = tmp_path / "clip.dat"
    clip = torch.arange(2 * 3 * 4 * 5 * 6, dtype=torch.float32).reshape(2, 3, 4, 5, 6)
    write_dat(clip, dat, "NCTHW", {})
    assert json.loads(sidecar_path(dat).read_text())["layout"] == "NCTHW"
    assert torch.equal(read_dat(dat), clip)
    with pytest.raises(ValueError, match="rank-5 tensor cannot have layout 'NCHW'"):
        write_dat(clip, tmp_path / "bad.dat", "NCHW", {})
    assert not (tmp_path / "bad.dat").exists()


def test_dat_with_bad_sidecar_is_refused(tmp_path):
    dat = tmp_path / "x.dat"
    write_dat(torch.zeros(1, 3, 2, 2), dat, "NCHW", {})
    sidecar_path(dat).write_text('{"shape": [1, 3, 0, 4], "dtype": "float32", "layout": "NCHW"}')
    with pytest.raises(DatFormatError, match="not a list of positive integers"):
        read_dat(dat)
    # The layout must name every axis: a rank-3 shape under NCHW is refused before reading.
    sidecar_path(dat).write_text('{"shape": [1, 3, 4], "dtype": "float32", "layout": "NCHW"}')
    with pytest.raises(DatFormatError, match="does not name the 3 axes"):
        read_dat(dat)
    sidecar_path(dat).write_text('{"shape": [1, 3, 2, 2], "dtype": "float64"}')
    with pytest.raises(DatFormatError, match="dtype"):
        read_dat(dat)
    sidecar_path(dat).unlink()
    with pytest.raises(DatFormatError, match="cannot read sidecar"):
        read_dat(dat)


def test_grayscale_and_rgba_images_become_rgb(tmp_path):
    spec = CATALOG["resnet18"].preprocess_spec()
    for mode in ("L", "RGBA", "P"):
        path = tmp_path / f"img_{mode}.png"
        Image.new(mode, (300, 260)).save(path)
        assert preprocess(path, spec)[0].shape == (1, 3, 224, 224)


def test_corrupt_images_give_a_clear_error(tmp_path):
    spec = CATALOG["resnet18"].preprocess_spec()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((REPO_ROOT / "data" / "images" / "falcon9_rocket.jpg").read_bytes()[:2000])
    noise = tmp_path / "noise.png"
    noise.write_bytes(b"not an image at all" * 10)
    for bad in (truncated, noise):
        with pytest.raises(ImageReadError, match=f"cannot read image {bad}"):
            preprocess(bad, spec)[0]


def test_input_sha256_of_a_file_and_of_a_frame_folder(tmp_path):
    import hashlib

    from tvdeploy.inputs import input_sha256

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "frame_000.png").write_bytes(b"a")
    (tmp_path / "f" / "frame_001.png").write_bytes(b"b")
    (tmp_path / "f" / ".DS_Store").write_bytes(b"ignored")
    assert input_sha256(tmp_path / "f" / "frame_000.png") == hashlib.sha256(b"a").hexdigest()
    before = input_sha256(tmp_path / "f")
    # A frame's bytes or its name (its place in the clip) changes the folder's digest.
    (tmp_path / "f" / "frame_001.png").write_bytes(b"c")
    assert input_sha256(tmp_path / "f") != before
    (tmp_path / "f" / "frame_001.png").write_bytes(b"b")
    assert input_sha256(tmp_path / "f") == before
    (tmp_path / "f" / "frame_001.png").rename(tmp_path / "f" / "frame_002.png")
    assert input_sha256(tmp_path / "f") != before
