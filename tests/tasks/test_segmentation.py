"""The segmentation task's adapter: its preprocessing (the weights' own preset), the deployable
wrapper (``out`` alone, scripted and traced), parity (scale-relative max |Δlogit| and argmax
agreement, which a one-class reference cannot discriminate) and predictions (mask as a .dat)."""

from unittest import mock

import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image
from torchvision.models import get_model, get_model_weights
from torchvision.models.segmentation import FCN_ResNet50_Weights, lraspp_mobilenet_v3_large

from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.predict.outputs import load_tensor_output, resolve_tensor_outputs, store_tensor_outputs
from tvdeploy.tasks import ParityError, adapter, check_parity
from tvdeploy.tasks.segmentation import (
    builder_kwargs,
    compare_outputs,
    compare_predictions,
    deployable,
    example_inputs,
    mask_agreement,
    output_tensor,
    predict,
    preprocess,
)

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")
SEGMENTATION_MODELS = [m for m, info in CATALOG.items() if info.task == "segmentation"]
IMAGES = sorted((REPO_ROOT / "data" / "images").glob("*.*g"))
WEIGHTS = FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
# The preset of every torchvision segmentation weight, as a spec dict.
SPEC = {
    "task": "segmentation",
    "resize_size": 520,
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "interpolation": "bilinear",
    "antialias": True,
}


def test_adapter_is_the_registry_one():
    assert adapter("segmentation").TASK.name == "segmentation"


@pytest.mark.parametrize("image", IMAGES[:2], ids=lambda p: p.name)
def test_spec_transform_equals_the_weights_transform(image):
    expected = WEIGHTS.transforms()(Image.open(image).convert("RGB")).unsqueeze(0)
    ours = preprocess(image, SPEC)[0]
    assert min(ours.shape[2:]) == 520
    assert torch.equal(ours, expected)


def test_the_builder_kwargs_of_a_model_come_from_its_weights_task():
    from tvdeploy import tasks

    weights = get_model_weights("fcn_resnet50").DEFAULT
    assert tasks.task_of_weights(weights) == "segmentation"
    assert tasks.builder_kwargs("fcn_resnet50", weights) == {"weights_backbone": None, "aux_loss": True}
    lraspp = get_model_weights("lraspp_mobilenet_v3_large").DEFAULT
    assert tasks.builder_kwargs("lraspp_mobilenet_v3_large", lraspp) == {"weights_backbone": None}
    assert tasks.builder_kwargs("resnet18", get_model_weights("resnet18").DEFAULT) == {}


def test_example_inputs_are_seeded_and_not_square():
    info = CATALOG["lraspp_mobilenet_v3_large"]
    a, b, c = (example_inputs(info, 2, seed)[0] for seed in (0, 0, 1))
    assert a.shape == (2, 3, 520, 694) and torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("model", SEGMENTATION_MODELS)
def test_builder_kwargs_give_the_architecture_of_the_default_weights(model):
    """With them, ``weights=None`` builds the modules the DEFAULT weights' builder builds (the aux
    head of fcn and deeplabv3 included) without fetching backbone weights; checked on the module
    tree, which needs no download, against the builder given the weights enum with its loading
    stubbed out."""
    weights = get_model_weights(model).DEFAULT
    built = get_model(model, weights=None, num_classes=21, **builder_kwargs(model, weights))
    with mock.patch.object(type(weights), "get_state_dict", lambda *a, **k: built.state_dict()):
        reference = get_model(model, weights=weights)
    assert hasattr(built, "aux_classifier") == model.startswith(("fcn_", "deeplabv3_"))
    assert [name for name, _ in built.named_modules()] == [name for name, _ in reference.named_modules()]


def test_mask_agreement_counts_flipped_pixels():
    reference = torch.arange(40).remainder(3).reshape(1, 5, 8)  # N = 40 pixels, 3 classes
    candidate = reference.clone()
    flipped = [(0, 0, 0), (0, 2, 3), (0, 4, 7)]  # k = 3
    for index in flipped:
        candidate[index] = (candidate[index] + 1) % 3
    result = mask_agreement(reference, candidate)
    assert result["argmax_agreement"] == pytest.approx(1 - 3 / 40)
    assert result["discriminates"] and result["argmax_agrees"] is False
    assert mask_agreement(reference, reference)["argmax_agrees"] is True


def test_compare_outputs_is_scale_relative_and_checks_the_argmax():
    torch.manual_seed(0)
    ref = torch.randn(1, 4, 6, 10) * 50
    near = ref + 4e-3  # 4e-3 <= 1e-5 + 1e-4 * max|ref|
    ok = compare_outputs(ref, near, rtol=1e-4, atol=1e-5)
    assert ok["within_tolerance"] and ok["discriminates"] and ok["argmax_agreement"] == 1.0
    far = ref.clone()
    far[0, :, 0, 0] = far[0, :, 0, 0].flip(0) * 2  # one pixel wrong by far more than the tolerance
    bad = compare_outputs(ref, far, rtol=1e-4, atol=1e-5)
    assert not bad["within_tolerance"]
    with pytest.raises(ParityError, match="exceeds|against tolerance"):
        check_parity("segmentation", "m", bad)
    with pytest.raises(ParityError, match="shapes differ"):
        compare_outputs(ref, ref[..., :5], 1e-4, 1e-5)


def test_compare_outputs_flags_flat_logits_as_not_discriminating():
    ref = torch.zeros(1, 21, 4, 6)
    ref[:, 0] = 1.0  # class 0 everywhere: any constant candidate matches its argmax
    comparison = compare_outputs(ref, ref.clone(), 1e-4, 1e-5)
    assert comparison["discriminates"] is False and comparison["argmax_agrees"] is None
    assert comparison["within_tolerance"]  # by the logits alone
    far = ref.clone()
    far[:, 1] = 2.0  # class 1 everywhere
    miss = compare_outputs(ref, far, 1e-4, 1e-5)
    assert miss["argmax_agreement"] == 0.0 and miss["argmax_agrees"] is None and not miss["within_tolerance"]
    with pytest.raises(ParityError, match="not discriminating"):
        check_parity("segmentation", "m", miss)


def test_output_tensor_takes_out_of_a_dict():
    t = torch.zeros(1, 21, 2, 3)
    assert output_tensor(t) is t and output_tensor({"out": t, "aux": t + 1}) is t
    with pytest.raises(TypeError, match="'out'"):
        output_tensor({"aux": t})


@pytest.fixture(scope="module")
def lraspp():
    torch.manual_seed(0)
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21).eval()


def test_deployable_scripted_and_traced_give_the_eager_out(lraspp):
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        eager = lraspp(x)
    wrapped, description = deployable(lraspp, eager)
    assert description.startswith("dict[out]")
    scripted = torch.jit.script(wrapped)
    with torch.no_grad():
        traced = torch.jit.trace(wrapped, (x,))
    with torch.inference_mode():
        for module in (scripted, traced):
            out = module(x)
            assert isinstance(out, torch.Tensor) and out.shape == (1, 21, 64, 96)
            torch.testing.assert_close(out, eager["out"], rtol=1e-4, atol=1e-5)
        # a different size through the traced one still maps H and W right
        y = torch.randn(2, 3, 48, 80)
        torch.testing.assert_close(traced(y), lraspp(y)["out"], rtol=1e-4, atol=1e-5)


class _Fixed(torch.nn.Module):
    """Returns preset logits whatever the input (predict's decoding, checked by hand)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.logits}


def test_predict_writes_the_mask_and_class_fractions(tmp_path):
    from tvdeploy.inputs.dat import write_dat

    dat = tmp_path / "img.dat"
    write_dat(torch.zeros(1, 3, 2, 3), dat, "NCHW", {})
    logits = torch.zeros(1, 3, 2, 3)
    logits[0, 2, 0, :] = 1.0  # first row class 2, second row class 0 (ties go to the first index)
    logits[0, 1, 1, 2] = 1.0  # one pixel class 1
    labels = ["background", "a", "b"]
    results = predict(_Fixed(logits), [dat], {"labels": labels}, torch.device("cpu"))
    assert [r["class_fractions"] for r in results] == [pytest.approx([2 / 6, 1 / 6, 3 / 6])]
    assert results[0]["logits_shape"] == [3, 2, 3]
    record = tmp_path / "pred.json"
    stored = store_tensor_outputs(results, record)
    assert stored[0]["mask"] == {"dat": "pred.0.mask.dat", "shape": [2, 3], "layout": "HW"}
    mask = load_tensor_output(record, stored[0]["mask"])
    assert torch.equal(mask, torch.tensor([[2.0, 2.0, 2.0], [0.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"not \[N, 4, H, W\]"):
        predict(_Fixed(logits), [dat], {"labels": [*labels, "c"]}, torch.device("cpu"))

    # the same record against itself, then against one pixel changed, each read back from disk
    reference = resolve_tensor_outputs({"results": stored}, record)
    same = compare_predictions(reference, reference, 1e-4, 1e-5, {"model": "m"})
    assert same[0]["argmax_agreement"] == 1.0 and same[0]["within_tolerance"] and same[0]["image"] == "img"
    changed = logits.clone()
    changed[0, 0, 1, 0] = 5.0  # unchanged class 0 — then move one pixel of class 2 to class 0
    changed[0, 0, 0, 0] = 5.0
    other = tmp_path / "other.json"
    stored_other = store_tensor_outputs(predict(_Fixed(changed), [dat], {"labels": labels}, "cpu"), other)
    candidate = resolve_tensor_outputs({"results": stored_other}, other)
    row = compare_predictions(reference, candidate, 1e-4, 1e-5, {})[0]
    assert row["argmax_agreement"] == pytest.approx(5 / 6) and not row["within_tolerance"]
    assert row["max_fraction_diff"] == pytest.approx(1 / 6)
    with pytest.raises(TypeError, match="resolve_tensor_outputs"):
        compare_predictions({"results": stored}, {"results": stored}, 1e-4, 1e-5, {})


def test_draw_prediction_colours_the_found_class_over_the_resized_image_and_leaves_the_background():
    from torchvision.transforms.functional import pil_to_tensor, resize

    from tvdeploy.tasks import PICTURE_COLOURS
    from tvdeploy.tasks.segmentation import draw_prediction

    image = REPO_ROOT / "data" / "images" / "chelsea_cat.png"
    mask = torch.zeros(60, 90)
    mask[10:30, 20:50] = 3  # class 3 ("bottle" in VOC) on a 20 x 30 block, background elsewhere
    fractions = [1 - 600 / 5400, 0.0, 0.0, 600 / 5400] + [0.0] * 17
    labels = ["__background__", "aeroplane", "bicycle", "bird"] + [f"c{i}" for i in range(17)]
    picture, caption = draw_prediction({"mask": mask, "class_fractions": fractions}, {"image": str(image)}, labels)
    source = resize(pil_to_tensor(Image.open(image).convert("RGB")), [60, 90], antialias=True)
    assert picture.dtype == torch.uint8 and picture.shape == (3, 60, 90)
    inside = mask == 3
    # The class's block is blended with its palette colour, the background is the image itself.
    assert torch.equal(picture[:, ~inside], source[:, ~inside])
    colour = torch.tensor([int(PICTURE_COLOURS[3][i : i + 2], 16) for i in (1, 3, 5)])
    blended = picture[:, inside].float().T
    assert (blended - colour).abs().mean() < (source[:, inside].float().T - colour).abs().mean() - 20
    assert caption == "pixels: __background__ 89%, bird 11%"
