"""Reading a user's video clip (a video file decoded with PyAV, or a folder of frames), taking a
clip of consecutive frames from it, preprocessing that clip to a VideoClassification preset, and
writing the small panned test clip the repository ships (data/clips/).

Frames are uint8 ``[T, C, H, W]`` (RGB, channels first: the layout torchvision's video presets
take). Clip policy: ``clip_len`` consecutive frames starting at frame ``start`` (0 unless the
caller says otherwise; both are recorded); a source with fewer frames is refused, never padded.
The whole source is decoded, so a truncated or corrupt file fails here rather than in a later
stage, but only the clip's frames are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import VideoClassification

from tvdeploy.files import atomic_path
from tvdeploy.inputs.images import ImageReadError, load_rgb_image

# Axis letters of Clip.frames, and of the model input preprocess_clip returns (the .dat layout).
FRAMES_LAYOUT = "TCHW"
VIDEO_INPUT_LAYOUT = "NCTHW"


class ClipReadError(ValueError):
    """A video file or frame folder cannot be read as a clip (the message names the file)."""


class ClipTooShortError(ClipReadError):
    """The source holds fewer frames than the clip needs."""


@dataclass(frozen=True)
class Clip:
    """``frames``: uint8 ``[T, C, H, W]`` RGB; ``metadata``: where they came from (source, kind,
    frame_count of the whole source, fps or None, clip_start, clip_len, frame_indices, and for a
    frame folder the frame_files taken)."""

    frames: torch.Tensor
    metadata: dict = field(default_factory=dict)


def read_clip(source: str | Path, clip_len: int, start: int = 0) -> Clip:
    """``clip_len`` consecutive frames from frame ``start`` of a video file or a frame folder."""
    source = Path(source)
    if clip_len < 1 or start < 0:
        raise ValueError(f"clip_len must be ≥ 1 and start ≥ 0, got clip_len={clip_len}, start={start}")
    if source.is_dir():
        return _read_frame_folder(source, clip_len, start)
    if not source.is_file():
        raise ClipReadError(f"no video file or frame folder at {source}")
    return _read_video_file(source, clip_len, start)


def _check_length(source: Path, frame_count: int, clip_len: int, start: int) -> None:
    if start + clip_len > frame_count:
        raise ClipTooShortError(
            f"{source} has {frame_count} frames; a clip of {clip_len} frames from frame {start} "
            f"needs {start + clip_len} (no padding is done: give a longer clip or a smaller clip_len/start)"
        )


def _metadata(source: Path, kind: str, frame_count: int, fps: float | None, clip_len: int, start: int) -> dict:
    return {
        "source": str(source),
        "source_kind": kind,
        "frame_count": frame_count,
        "fps": fps,
        "clip_start": start,
        "clip_len": clip_len,
        "frame_indices": list(range(start, start + clip_len)),
    }


def _stack(frames_hwc: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames_hwc)).permute(0, 3, 1, 2).contiguous()


def _read_video_file(source: Path, clip_len: int, start: int) -> Clip:
    kept: list[np.ndarray] = []
    size = None
    decoded = 0
    try:
        with av.open(str(source)) as container:
            # A still image (png_pipe, image2, ...) opens as a one-frame "video": refuse it by name.
            if container.format.name.endswith("_pipe") or container.format.name == "image2":
                raise ClipReadError(f"{source} is a still image ({container.format.name}), not a video")
            if not container.streams.video:
                raise ClipReadError(f"{source} has no video stream")
            stream = container.streams.video[0]
            declared = stream.frames  # 0 where the container does not say
            fps = float(stream.average_rate) if stream.average_rate else None
            for frame in container.decode(stream):
                if size is None:
                    size = (frame.height, frame.width)
                elif (frame.height, frame.width) != size:
                    raise ClipReadError(
                        f"{source}: frame {decoded} is {frame.width}×{frame.height}, "
                        f"frame 0 is {size[1]}×{size[0]} (a clip's frames must share one size)"
                    )
                if start <= decoded < start + clip_len:
                    kept.append(frame.to_ndarray(format="rgb24"))
                decoded += 1
    except av.FFmpegError as err:
        raise ClipReadError(f"cannot decode video {source}: {err}") from err
    if decoded == 0:
        raise ClipReadError(f"{source}: no video frame could be decoded")
    # A file cut short can still demux (AVI): its header still counts every frame. Containers
    # that declare no count (Matroska) cut between frames give a shorter clip, caught by length.
    # Damaged bytes inside a frame can decode without error (the decoder conceals them).
    if declared and decoded < declared:
        raise ClipReadError(
            f"{source} is truncated or corrupt: its header declares {declared} frames, {decoded} decoded"
        )
    _check_length(source, decoded, clip_len, start)
    metadata = _metadata(source, "video", decoded, fps, clip_len, start)
    return Clip(_stack(kept), metadata)


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_frame_files(folder: str | Path) -> list[Path]:
    """The frames of a frame folder, sorted by name: every entry not starting with a dot.

    Names must sort the same as their numbers (``frame_002`` before ``frame_010``): a folder
    whose names would sort differently by number (``frame_2``, ``frame_10``) is refused, as
    taking its frames out of order would be silent.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if not files:
        raise ClipReadError(f"frame folder {folder} is empty")
    by_number = sorted(files, key=lambda p: _natural_key(p.name))
    if by_number != files:
        first = next(a for a, b in zip(files, by_number, strict=True) if a != b)
        raise ClipReadError(
            f"frame folder {folder}: {first.name} sorts out of numeric order by name; zero-pad the frame numbers"
        )
    return files


def _read_frame_folder(folder: Path, clip_len: int, start: int) -> Clip:
    files = list_frame_files(folder)
    _check_length(folder, len(files), clip_len, start)
    kept: list[np.ndarray] = []
    first_size = None
    for index, path in enumerate(files):
        if path.is_dir():
            raise ClipReadError(f"frame folder {folder} holds a folder, {path.name}, not an image")
        try:
            image = load_rgb_image(path)
        except ImageReadError as err:
            raise ClipReadError(f"frame folder {folder} holds a file that is not an image: {err}") from err
        if first_size is None:
            first_size = (image.size, files[0])
        elif image.size != first_size[0]:
            (w0, h0), path0 = first_size
            raise ClipReadError(
                f"frame folder {folder}: {path.name} is {image.width}×{image.height}, "
                f"{path0.name} is {w0}×{h0} (a clip's frames must share one size)"
            )
        if start <= index < start + clip_len:
            kept.append(np.asarray(image))
    metadata = _metadata(folder, "frames", len(files), None, clip_len, start)
    metadata["frame_files"] = [p.name for p in files[start : start + clip_len]]
    return Clip(_stack(kept), metadata)


# --- Preprocessing to the weights' VideoClassification preset --------------------------------


def _sizes(value) -> tuple[int, ...]:
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


def video_spec(preset: VideoClassification, clip_len: int) -> dict:
    """The preprocessing spec of a video model: its preset's parameters and the clip length.

    ``resize_size`` keeps the preset's form: one number resizes the shorter side (mvit, swin3d),
    two resize to exactly [H, W] (the ResNet-3Ds' [128, 171], s3d's [256, 256]).
    """
    return {
        "resize_size": list(preset.resize_size),
        "crop_size": list(preset.crop_size),
        "interpolation": preset.interpolation.value,
        "mean": [float(m) for m in preset.mean],
        "std": [float(s) for s in preset.std],
        "clip_len": int(clip_len),
    }


def make_video_transform(spec: dict) -> VideoClassification:
    return VideoClassification(
        # The preset reshapes to its crop's (H, W): one number is a square crop.
        crop_size=_sizes(spec["crop_size"]) * (2 if len(_sizes(spec["crop_size"])) == 1 else 1),
        resize_size=_sizes(spec["resize_size"]),
        mean=tuple(spec["mean"]),
        std=tuple(spec["std"]),
        interpolation=InterpolationMode(spec["interpolation"]),
    )


def preprocess_clip(clip: Clip, spec: dict) -> tuple[torch.Tensor]:
    """A clip through its weights' VideoClassification preset, as a batch of one: float32
    ``[1, C, T, H, W]`` (layout VIDEO_INPUT_LAYOUT)."""
    frames = clip.frames
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"clip frames must be uint8 [T, 3, H, W], got {frames.dtype} {tuple(frames.shape)}")
    # The preset views its input as (-1, C, H, W): the frames must be contiguous TCHW.
    batch = make_video_transform(spec)(frames.contiguous().unsqueeze(0))
    return (batch.contiguous(),)


# --- The shipped test clip ---------------------------------------------------------------------


def panned_frames(image: Image.Image, size: tuple[int, int], shift: tuple[int, int], count: int) -> list[np.ndarray]:
    """``count`` crops of ``size`` (W, H) from ``image``, each ``shift`` (dx, dy) pixels further
    right and down than the one before, centred on the image's middle: between consecutive
    frames every visible point moves by (-dx, -dy), a known optical flow."""
    width, height = size
    dx, dy = shift
    span_w, span_h = width + (count - 1) * abs(dx), height + (count - 1) * abs(dy)
    if span_w > image.width or span_h > image.height:
        raise ValueError(
            f"{count} frames of {width}×{height} panned by {shift} need {span_w}×{span_h} pixels, "
            f"the image has {image.width}×{image.height}"
        )
    left0 = (image.width - span_w) // 2 + (0 if dx >= 0 else span_w - width)
    top0 = (image.height - span_h) // 2 + (0 if dy >= 0 else span_h - height)
    pixels = np.asarray(image.convert("RGB"))
    return [
        np.ascontiguousarray(pixels[top0 + t * dy : top0 + t * dy + height, left0 + t * dx : left0 + t * dx + width])
        for t in range(count)
    ]


def write_test_clip(
    path: str | Path,
    image_path: str | Path,
    *,
    size: tuple[int, int] = (256, 192),
    shift: tuple[int, int] = (4, 2),
    frames: int = 32,
    fps: int = 15,
    crf: int = 18,
) -> None:
    """Encode panned_frames of ``image_path`` as an H.264 MP4 (yuv420p, single-threaded so the
    bytes do not depend on the machine's core count), written atomically."""
    image = load_rgb_image(image_path)
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        # faststart: the index (moov) before the frames, as streamed MP4s have it.
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf)}
            stream.codec_context.thread_count = 1
            for pixels in panned_frames(image, size, shift, frames):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
            container.mux(stream.encode(None))
