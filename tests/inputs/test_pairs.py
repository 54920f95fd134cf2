"""Optical-flow image pairs: the folder convention, the shipped pair and its known shift, pairs
from a clip, RAFT's size limits (checked against the model itself) and each bad pair refused."""

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image
from torchvision.models.optical_flow import raft_small

from tvdeploy.inputs.images import ImageReadError, load_rgb_image
from tvdeploy.inputs.pairs import (
    RAFT_MIN_SIDE,
    PairReadError,
    list_pair_folder,
    pair_from_clip,
    preprocess_pair,
    read_image_pair,
    write_test_pair,
)
from tvdeploy.inputs.video import panned_frames, read_clip

PAIRS = REPO_ROOT / "data" / "pairs"
SOURCE_IMAGE = REPO_ROOT / "data" / "images" / "chelsea_cat.png"
SHIPPED_CLIP = REPO_ROOT / "data" / "clips" / "chelsea_pan.mp4"


def save(path, width, height, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_shipped_pair_is_listed_and_shifted_as_its_readme_says():
    pairs = list_pair_folder(PAIRS)  # README.md is not a pair member
    assert list(pairs) == ["chelsea_pan"]
    source = pairs["chelsea_pan"]
    assert (source.first.name, source.second.name) == ("chelsea_pan_1.png", "chelsea_pan_2.png")
    pair = read_image_pair(source.first, source.second)
    assert pair.first.dtype == torch.uint8 and tuple(pair.first.shape) == (3, 192, 256)
    assert pair.metadata == {
        "first": str(source.first),
        "second": str(source.second),
        "original_size": [192, 256],
        "size": [192, 256],
        "size_policy": "refuse",
        "crop": None,
    }
    # Exactly the first two panned windows: the second at (y, x) is the first at (y + 2, x + 4).
    expected = panned_frames(load_rgb_image(SOURCE_IMAGE), (256, 192), (4, 2), 2)
    assert np.array_equal(pair.first.permute(1, 2, 0).numpy(), expected[0])
    assert torch.equal(pair.second[:, :-2, :-4], pair.first[:, 2:, 4:])


def test_write_test_pair_reproduces_the_shipped_pair(tmp_path):
    written = write_test_pair(tmp_path, SOURCE_IMAGE, "chelsea_pan")
    for name in ("chelsea_pan_1.png", "chelsea_pan_2.png"):
        assert np.array_equal(np.asarray(Image.open(tmp_path / name)), np.asarray(Image.open(PAIRS / name)))
    assert written.first == tmp_path / "chelsea_pan_1.png" and sorted(p.name for p in tmp_path.iterdir()) == [
        "chelsea_pan_1.png",
        "chelsea_pan_2.png",
    ]


def test_pair_from_consecutive_clip_frames_records_them():
    clip = read_clip(SHIPPED_CLIP, clip_len=4, start=10)
    pair = pair_from_clip(clip, index=2)
    assert pair.metadata["source"] == str(SHIPPED_CLIP) and pair.metadata["frame_indices"] == [12, 13]
    assert torch.equal(pair.first, clip.frames[2]) and torch.equal(pair.second, clip.frames[3])
    with pytest.raises(ValueError, match="needs frames 3 and 4; the clip has 4"):
        pair_from_clip(clip, index=3)


def test_pair_folder_convention_and_its_errors(tmp_path):
    for name in ("walk_a_1.png", "walk_a_2.jpg", "car_1.png", "car_2.png", "img_10.png"):
        save(tmp_path / name, 128, 128)
    (tmp_path / "notes.txt").write_text("two pairs\n")
    pairs = list_pair_folder(tmp_path)
    assert list(pairs) == ["car", "walk_a"] and pairs["walk_a"].second.name == "walk_a_2.jpg"
    (tmp_path / "dog_1.png").write_bytes(b"")
    with pytest.raises(PairReadError, match="dog_1.png has no partner dog_2"):
        list_pair_folder(tmp_path)
    (tmp_path / "dog_1.png").unlink()
    save(tmp_path / "car_1.jpg", 128, 128)
    with pytest.raises(PairReadError, match="car_1.jpg and car_1.png are both member car_1"):
        list_pair_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PairReadError, match="holds no pair"):
        list_pair_folder(tmp_path / "empty")


def test_pair_of_two_sizes_names_both_files_and_sizes(tmp_path):
    first, second = save(tmp_path / "a_1.png", 160, 128), save(tmp_path / "a_2.png", 136, 128)
    with pytest.raises(PairReadError, match=r"a_1.png is 160×128, .*a_2.png is 136×128"):
        read_image_pair(first, second)


@pytest.mark.parametrize("size", [(120, 128), (128, 96)])
def test_image_below_rafts_minimum_is_refused_naming_it(tmp_path, size):
    first, second = save(tmp_path / "s_1.png", *size), save(tmp_path / "s_2.png", *size, seed=1)
    with pytest.raises(PairReadError, match=rf"s_1.png \(and .*s_2.png\) is {size[0]}×{size[1]}: RAFT needs at least"):
        read_image_pair(first, second, size_policy="center_crop")  # a crop cannot make it larger


def test_sides_not_multiples_of_8_are_refused_or_center_cropped_as_recorded(tmp_path):
    first, second = save(tmp_path / "o_1.png", 451, 300), save(tmp_path / "o_2.png", 451, 300, seed=1)
    with pytest.raises(PairReadError, match=r"o_1.png .* is 451×300: .*multiples of 8 .*crop to 448×296"):
        read_image_pair(first, second)
    pair = read_image_pair(first, second, size_policy="center_crop")
    assert pair.metadata["crop"] == {"top": 2, "left": 1, "height": 296, "width": 448}
    assert pair.metadata["original_size"] == [300, 451] and pair.metadata["size"] == [296, 448]
    full = torch.from_numpy(np.array(Image.open(second))).permute(2, 0, 1)
    assert torch.equal(pair.second, full[:, 2:298, 1:449])
    with pytest.raises(ValueError, match="size_policy 'pad'"):
        read_image_pair(first, second, size_policy="pad")


def test_unreadable_pair_image_is_named(tmp_path):
    first = save(tmp_path / "b_1.png", 128, 128)
    (tmp_path / "b_2.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="b_2.png"):
        read_image_pair(first, tmp_path / "b_2.png")


def test_rafts_own_limits_are_the_ones_checked():
    """raft_small itself runs at 128×128 and refuses 120 px or a side not a multiple of 8: what
    read_image_pair accepts, the model takes."""
    torch.manual_seed(0)
    model = raft_small(weights=None).eval()
    pair = pair_from_clip(read_clip(SHIPPED_CLIP, clip_len=2), 0)
    small = [t[:, :, :RAFT_MIN_SIDE, :RAFT_MIN_SIDE] for t in preprocess_pair(pair)]
    with torch.inference_mode():
        flows = model(*small, num_flow_updates=1)
        assert tuple(flows[-1].shape) == (1, 2, 128, 128)
        with pytest.raises(ValueError, match=r"at least 8 \* 16 = 128"):
            model(*[t[:, :, :120, :128] for t in small], num_flow_updates=1)
        with pytest.raises(ValueError, match="divisible by 8"):
            model(*[t[:, :, :, :132] for t in preprocess_pair(pair)], num_flow_updates=1)
