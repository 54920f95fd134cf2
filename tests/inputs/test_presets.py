"""Preprocessing of clips and image pairs against torchvision's own presets (the weights'
transforms()) on known input, and against values computed by hand."""

import pytest
import torch
from torchvision.models import optical_flow, video

from tvdeploy.inputs.pairs import FLOW_INPUT_LAYOUTS, ImagePair, preprocess_pair
from tvdeploy.inputs.video import VIDEO_INPUT_LAYOUT, Clip, make_video_transform, preprocess_clip, video_spec

VIDEO_WEIGHTS = [
    video.R3D_18_Weights.KINETICS400_V1,
    video.S3D_Weights.KINETICS400_V1,
    video.MViT_V2_S_Weights.KINETICS400_V1,
    video.Swin3D_T_Weights.KINETICS400_V1,
]
# r3d_18's preset written out by hand (torchvision's _presets and the weights' partial).
R3D_18_SPEC = {
    "resize_size": [128, 171],
    "crop_size": [112, 112],
    "interpolation": "bilinear",
    "mean": [0.43216, 0.394666, 0.37645],
    "std": [0.22803, 0.22145, 0.216989],
    "clip_len": 16,
}


def random_frames(t=5, h=150, w=200, seed=0):
    return torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("weights", VIDEO_WEIGHTS, ids=lambda w: type(w).__name__)
def test_clip_preprocessing_is_the_weights_preset(weights):
    preset = weights.transforms()
    frames = random_frames()
    (batch,) = preprocess_clip(Clip(frames), video_spec(preset, clip_len=5))
    crop_h, crop_w = preset.crop_size
    assert VIDEO_INPUT_LAYOUT == "NCTHW" and tuple(batch.shape) == (1, 3, 5, crop_h, crop_w)
    assert batch.dtype == torch.float32 and batch.is_contiguous()
    # The preset takes (T, C, H, W) uint8 and returns (C, T, H, W).
    assert torch.equal(batch[0], preset(frames))


def test_hand_written_spec_gives_r3d_18s_preset():
    frames = random_frames(seed=1)
    (batch,) = preprocess_clip(Clip(frames), R3D_18_SPEC)
    assert torch.equal(batch[0], video.R3D_18_Weights.KINETICS400_V1.transforms()(frames))
    assert video_spec(video.R3D_18_Weights.KINETICS400_V1.transforms(), 16) == R3D_18_SPEC


def test_clip_preprocessing_by_hand_on_a_constant_clip():
    """Each frame one colour, frame t's channel c = 10·t + 40·c: after resize and crop the value
    stays, then (v / 255 - mean[c]) / std[c] at channel c, frame t (layout NCTHW)."""
    t_len = 3
    values = torch.tensor([[10 * t + 40 * c for c in range(3)] for t in range(t_len)], dtype=torch.uint8)
    frames = values[:, :, None, None].expand(t_len, 3, 90, 120).contiguous()
    (batch,) = preprocess_clip(Clip(frames), R3D_18_SPEC)
    mean, std = torch.tensor(R3D_18_SPEC["mean"]), torch.tensor(R3D_18_SPEC["std"])
    expected = (values.float() / 255 - mean) / std  # [T, C]
    assert tuple(batch.shape) == (1, 3, t_len, 112, 112)
    torch.testing.assert_close(batch[0, :, :, 56, 56], expected.T, rtol=0, atol=1e-6)


def test_one_number_crop_is_square_and_one_number_resize_is_the_shorter_side():
    spec = {**R3D_18_SPEC, "resize_size": 64, "crop_size": 32}
    transform = make_video_transform(spec)
    assert transform.crop_size == [32, 32] and transform.resize_size == [64]
    (batch,) = preprocess_clip(Clip(random_frames(t=2, h=80, w=160)), spec)
    assert tuple(batch.shape) == (1, 3, 2, 32, 32)


def test_clip_preprocessing_refuses_frames_not_uint8_tchw():
    with pytest.raises(ValueError, match=r"uint8 \[T, 3, H, W\]"):
        preprocess_clip(Clip(random_frames().permute(0, 2, 3, 1)), R3D_18_SPEC)  # THWC
    with pytest.raises(ValueError, match=r"uint8 \[T, 3, H, W\]"):
        preprocess_clip(Clip(random_frames().float()), R3D_18_SPEC)


@pytest.mark.parametrize(
    "weights", [optical_flow.Raft_Small_Weights.C_T_V2, optical_flow.Raft_Large_Weights.C_T_SKHT_V2], ids=str
)
def test_pair_preprocessing_is_the_weights_preset(weights):
    first, second = random_frames(t=2, h=128, w=136, seed=2)
    tensors = preprocess_pair(ImagePair(first, second))
    expected = weights.transforms()(first.unsqueeze(0), second.unsqueeze(0))
    assert FLOW_INPUT_LAYOUTS == ("NCHW", "NCHW") and len(tensors) == 2
    for got, want in zip(tensors, expected, strict=True):
        assert tuple(got.shape) == (1, 3, 128, 136) and got.dtype == torch.float32
        assert torch.equal(got, want)
    # By hand: [0, 255] maps to [-1, 1] linearly.
    torch.testing.assert_close(tensors[0], first.unsqueeze(0).float() / 127.5 - 1, rtol=0, atol=1e-6)
