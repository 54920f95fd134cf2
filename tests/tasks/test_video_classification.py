"""The video-classification task's adapter: a clip (video file or frame folder) through the
weights' own preset at the model's clip length, example inputs of the sheet's NCTHW shape, and the
logits contract shared with classification (the same functions, not copies)."""

import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image
from torchvision.models import get_model_weights

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.inputs.video import ClipReadError, ClipTooShortError, read_clip
from tvdeploy.tasks import adapter, classification, task_of_weights
from tvdeploy.tasks.video import example_inputs, preprocess

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")
CLIP = REPO_ROOT / "data" / "clips" / "chelsea_pan.mp4"


def test_adapter_is_the_registry_one_and_shares_classifications_output_contract():
    video = adapter("video")
    assert video.TASK.name == "video" and video.TASK.input_layout == "NCTHW"
    for name in ("predict", "compare_outputs", "compare_predictions", "deployable", "output_tensor"):
        assert getattr(video, name) is getattr(classification, name)
    assert task_of_weights(get_model_weights("r3d_18").DEFAULT) == "video"


@pytest.mark.parametrize("model", ["r3d_18", "s3d", "mvit_v2_s", "swin3d_t"])
def test_preprocessing_a_clip_is_the_weights_preset_on_its_first_clip_len_frames(model):
    info = CATALOG[model]
    frames = read_clip(CLIP, info.clip_len).frames
    expected = get_model_weights(model).DEFAULT.transforms()(frames).unsqueeze(0)
    (ours,) = preprocess(CLIP, info.preprocess_spec())
    assert tuple(ours.shape) == info.input_shape
    assert torch.equal(ours, expected)


def test_a_frame_folder_preprocesses_like_the_same_frames_in_a_video(tmp_path):
    info = CATALOG["mc3_18"]
    frames = read_clip(CLIP, info.clip_len).frames
    for index, frame in enumerate(frames):
        Image.fromarray(frame.permute(1, 2, 0).numpy()).save(tmp_path / f"frame_{index:03d}.png")
    (from_folder,) = preprocess(tmp_path, info.preprocess_spec())
    (from_video,) = preprocess(CLIP, info.preprocess_spec())
    assert torch.equal(from_folder, from_video)


def test_a_short_or_broken_clip_is_refused_naming_it(tmp_path):
    spec = {**CATALOG["swin3d_t"].preprocess_spec(), "clip_len": 33}
    with pytest.raises(ClipTooShortError, match="chelsea_pan.mp4 has 32 frames"):
        preprocess(CLIP, spec)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(CLIP.read_bytes()[:2000])
    with pytest.raises(ClipReadError, match="broken.mp4"):
        preprocess(broken, spec)


def test_example_inputs_have_the_sheets_shape_and_are_seeded():
    info = CATALOG["swin3d_t"]
    (a,) = example_inputs(info, batch=2, seed=3)
    (b,) = example_inputs(info, batch=2, seed=3)
    assert tuple(a.shape) == (2, 3, 32, 224, 224) and torch.equal(a, b)
    assert not torch.equal(a, example_inputs(info, batch=2, seed=4)[0])


def test_draw_prediction_is_the_clips_middle_frame_captioned_with_its_top_classes():
    from tvdeploy.tasks.video import draw_prediction

    topk = [
        {"rank": 1, "class_index": 7, "label": "abseiling", "probability": 0.4213},
        {"rank": 2, "class_index": 2, "label": "juggling balls", "probability": 0.05},
    ]
    picture, caption = draw_prediction({"topk": topk}, {"image": str(CLIP), "clip_len": 16, "clip_start": 4})
    frames = read_clip(CLIP, 16, 4).frames
    assert picture.dtype == torch.uint8 and picture.shape == frames.shape[1:]
    assert torch.equal(picture, frames[8])
    assert not torch.equal(picture, frames[0])  # the clip pans: the middle frame is its own
    assert caption == "abseiling 42.1%, juggling balls 5.0%"
