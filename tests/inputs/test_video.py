"""Video clips a user has: the shipped clip decodes as its README says, frame folders, the clip
policy, and each bad input refused with its file named."""

import wave
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

from tvdeploy.inputs.images import load_rgb_image
from tvdeploy.inputs.video import (
    FRAMES_LAYOUT,
    ClipReadError,
    ClipTooShortError,
    panned_frames,
    read_clip,
    write_test_clip,
)

SHIPPED_CLIP = REPO_ROOT / "data" / "clips" / "chelsea_pan.mp4"
SOURCE_IMAGE = REPO_ROOT / "data" / "images" / "chelsea_cat.png"
# What data/clips/README.md says the clip is (write_test_clip's defaults).
CLIP_FRAMES, CLIP_SIZE, CLIP_SHIFT, CLIP_FPS = 32, (256, 192), (4, 2), 15.0


def as_tchw(frames_hwc: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames_hwc)).permute(0, 3, 1, 2)


def write_frames(folder, frames_hwc, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    names = names or [f"frame_{i:03d}.png" for i in range(len(frames_hwc))]
    for pixels, name in zip(frames_hwc, names, strict=True):
        Image.fromarray(pixels).save(folder / name)
    return folder


@pytest.fixture(scope="module")
def panned():
    return panned_frames(load_rgb_image(SOURCE_IMAGE), (64, 48), (3, 1), 6)


def test_shipped_clip_decodes_as_its_readme_says():
    clip = read_clip(SHIPPED_CLIP, clip_len=16)
    width, height = CLIP_SIZE
    assert FRAMES_LAYOUT == "TCHW"
    assert clip.frames.dtype == torch.uint8 and tuple(clip.frames.shape) == (16, 3, height, width)
    meta = clip.metadata
    assert meta["source"] == str(SHIPPED_CLIP) and meta["source_kind"] == "video"
    assert (meta["frame_count"], meta["fps"]) == (CLIP_FRAMES, CLIP_FPS)
    assert (meta["clip_start"], meta["clip_len"], meta["frame_indices"]) == (0, 16, list(range(16)))
    # The frames are the panned windows of the cat, up to H.264's loss (crf 18: a few levels).
    expected = as_tchw(panned_frames(load_rgb_image(SOURCE_IMAGE), CLIP_SIZE, CLIP_SHIFT, CLIP_FRAMES))
    error = (clip.frames.float() - expected[:16].float()).abs().mean()
    assert error < 3.0, f"mean |Δ| {error:.2f} of 255"


def test_a_clip_from_a_recorded_start_takes_those_frames():
    whole = read_clip(SHIPPED_CLIP, clip_len=CLIP_FRAMES)
    later = read_clip(SHIPPED_CLIP, clip_len=4, start=28)
    assert later.metadata["frame_indices"] == [28, 29, 30, 31]
    assert torch.equal(later.frames, whole.frames[28:])


def test_frame_folder_is_read_in_name_order_exactly(tmp_path, panned):
    folder = write_frames(tmp_path / "frames", panned)
    clip = read_clip(folder, clip_len=4, start=1)
    assert torch.equal(clip.frames, as_tchw(panned[1:5]))
    meta = clip.metadata
    assert meta["source_kind"] == "frames" and meta["frame_count"] == 6 and meta["fps"] is None
    assert meta["frame_files"] == ["frame_001.png", "frame_002.png", "frame_003.png", "frame_004.png"]


def test_write_test_clip_writes_a_clip_of_the_asked_shape(tmp_path):
    path = tmp_path / "clip.mp4"
    write_test_clip(path, SOURCE_IMAGE, size=(64, 48), shift=(2, 0), frames=5, fps=10)
    clip = read_clip(path, clip_len=5)
    assert tuple(clip.frames.shape) == (5, 3, 48, 64) and clip.metadata["fps"] == 10.0
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_panned_frames_move_by_the_shift(panned):
    # Frame t+1 at (y, x) shows what frame t shows at (y + dy, x + dx): a flow of (-dx, -dy).
    assert np.array_equal(panned[1][:-1, :-3], panned[0][1:, 3:])
    with pytest.raises(ValueError, match="need 452×192 pixels, the image has 451×300"):
        panned_frames(load_rgb_image(SOURCE_IMAGE), (256, 192), (4, 0), 50)


@pytest.mark.parametrize("kept", [0.1, 0.5, 0.9, 0.99])
def test_truncated_video_is_refused_naming_it(tmp_path, kept):
    data = SHIPPED_CLIP.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * kept)])
    with pytest.raises(ClipReadError, match="cut.mp4"):
        read_clip(cut, clip_len=16)


def test_truncated_video_whose_container_still_demuxes_is_refused(tmp_path, panned):
    """An AVI cut short still opens and decodes its first frames; its header's frame count
    tells it is truncated."""
    avi = tmp_path / "whole.avi"
    with av.open(str(avi), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for pixels in panned:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode(None))
    assert read_clip(avi, clip_len=6).metadata["frame_count"] == 6
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: int(avi.stat().st_size * 0.9)])
    with pytest.raises(ClipReadError, match=r"cut.avi is truncated or corrupt: its header declares 6 frames"):
        read_clip(cut, clip_len=2)


def test_non_video_files_are_refused_naming_them(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    with pytest.raises(ClipReadError, match="cannot decode video .*notes.mp4"):
        read_clip(text, clip_len=1)
    # A still image opens in FFmpeg as a one-frame video: refused as what it is.
    with pytest.raises(ClipReadError, match="chelsea_cat.png is a still image"):
        read_clip(SOURCE_IMAGE, clip_len=1)
    sound = tmp_path / "tone.wav"
    with wave.open(str(sound), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 800)
    with pytest.raises(ClipReadError, match="tone.wav has no video stream"):
        read_clip(sound, clip_len=1)
    with pytest.raises(ClipReadError, match="no video file or frame folder at .*missing.mp4"):
        read_clip(tmp_path / "missing.mp4", clip_len=1)


def test_clip_too_short_names_the_file_and_both_lengths(tmp_path, panned):
    with pytest.raises(ClipTooShortError, match=r"chelsea_pan.mp4 has 32 frames; a clip of 33 frames"):
        read_clip(SHIPPED_CLIP, clip_len=33)
    with pytest.raises(ClipTooShortError, match=r"has 32 frames; a clip of 16 frames from frame 20 needs 36"):
        read_clip(SHIPPED_CLIP, clip_len=16, start=20)
    folder = write_frames(tmp_path / "six", panned)
    with pytest.raises(ClipTooShortError, match=r"six has 6 frames; a clip of 16 frames"):
        read_clip(folder, clip_len=16)


def test_frame_folder_holding_a_non_image_is_refused_naming_it(tmp_path, panned):
    folder = write_frames(tmp_path / "frames", panned)
    (folder / "frame_003.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ClipReadError, match="not an image: cannot read image .*frame_003.png"):
        read_clip(folder, clip_len=2)  # the whole folder is checked, not only the clip's frames
    (folder / "frame_003.png").unlink()
    (folder / "notes.txt").write_text("frames of the cat\n")
    with pytest.raises(ClipReadError, match="notes.txt"):
        read_clip(folder, clip_len=2)
    (folder / "notes.txt").unlink()
    (folder / "more").mkdir()
    with pytest.raises(ClipReadError, match="holds a folder, more, not an image"):
        read_clip(folder, clip_len=2)


def test_empty_frame_folder_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("")
    with pytest.raises(ClipReadError, match="frame folder .*empty is empty"):
        read_clip(tmp_path / "empty", clip_len=1)


def test_frames_of_different_sizes_are_refused_naming_both(tmp_path, panned):
    frames = [*panned[:3], np.ascontiguousarray(panned[3][:40])]
    folder = write_frames(tmp_path / "frames", frames)
    with pytest.raises(ClipReadError, match=r"frame_003.png is 64×40, frame_000.png is 64×48"):
        read_clip(folder, clip_len=2)


def test_frame_names_that_sort_out_of_numeric_order_are_refused(tmp_path, panned):
    names = [f"f{i}.png" for i in (1, 2, 3, 8, 9, 10)]
    folder = write_frames(tmp_path / "frames", panned, names)
    with pytest.raises(ClipReadError, match="f10.png sorts out of numeric order by name; zero-pad"):
        read_clip(folder, clip_len=2)
