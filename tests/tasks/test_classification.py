"""The classification task's adapter: its preprocessing (the weights' own transform), the output
contract (the logits tensor of any output), and its parity metric."""

import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

from tvdeploy.catalog.models import default_weights
from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.tasks import ParityError, check_parity
from tvdeploy.tasks.classification import compare_outputs, describe_output, output_tensor, preprocess

IMAGES = sorted((REPO_ROOT / "data" / "images").glob("*.*g"))
CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")


def test_output_helpers():
    t = torch.zeros(1, 3)
    assert output_tensor(t) is t and describe_output(t) == "tensor"
    pair = (torch.ones(1, 3), None)
    assert output_tensor(pair) is pair[0] and describe_output(pair) == "tuple[0]"
    with pytest.raises(TypeError):
        output_tensor({"logits": t})


def test_compare_outputs_is_scale_relative():
    ref = torch.tensor([[100.0, 50.0, 10.0, 5.0, 1.0, 0.0]])
    near = ref + 5e-3  # 5e-3 <= 1e-5 + 1e-4 * 100
    far = ref + torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.02]])
    ok = compare_outputs(ref, near, rtol=1e-4, atol=1e-5)
    assert ok["within_tolerance"] and ok["top5_match"]
    bad = compare_outputs(ref, far, rtol=1e-4, atol=1e-5)
    assert not bad["within_tolerance"] and bad["max_abs_diff"] == pytest.approx(0.02)
    with pytest.raises(ParityError, match=r"max abs diff 2\.000e-02 exceeds tolerance 1\.001e-02"):
        check_parity("classification", "m", bad)
    swapped = ref[:, [1, 0, 2, 3, 4, 5]]
    assert not compare_outputs(ref, swapped, 1e-4, 1e-5)["top5_match"]
    assert not compare_outputs(ref, swapped, 1e-4, 1e-5)["top1_match"]
    # An int8-like result: every logit a few percent off, the top class kept, ranks 3-4 swapped.
    reduced = ref[:, [0, 1, 3, 2, 4, 5]] * 0.97
    agreement = compare_outputs(ref, reduced, rtol=0.2, atol=1e-9)
    assert agreement["top1_match"] and not agreement["top5_match"] and agreement["within_tolerance"]
    assert agreement["top5_overlap"] == 1.0  # the same five classes
    assert compare_outputs(ref, ref[:, [5, 1, 2, 3, 4, 0]], 1e-4, 1e-5)["top5_overlap"] == 0.8
    assert agreement["relative_diff"] == pytest.approx(5.15 / 100)  # 10 became 4.85
    with pytest.raises(ParityError, match="shapes differ"):
        compare_outputs(ref, ref[:, :3], 1e-4, 1e-5)
    assert ok["discriminates"]


def test_constant_logits_are_flagged_as_not_discriminating():
    # Random-weight quantized mobilenets return all-zero logits: any candidate near zero "agrees".
    flat = torch.zeros(2, 6)
    check = compare_outputs(flat, flat + 1e-12, rtol=1e-4, atol=1e-9)
    assert check["within_tolerance"] and not check["discriminates"]
    # One constant row of two is enough to make the check prove nothing about that image.
    mixed = torch.stack([torch.arange(6.0), torch.full((6,), 3.0)])
    assert not compare_outputs(mixed, mixed, 1e-4, 1e-9)["discriminates"]


@pytest.mark.parametrize(
    "model",
    ["resnet50", "inception_v3", "efficientnet_b0", "efficientnet_v2_l", "vit_h_14", "quantized_mobilenet_v3_large"],
)
def test_spec_transform_equals_the_weights_transform(model):
    image = Image.open(IMAGES[0]).convert("RGB")
    expected = default_weights(model).transforms()(image).unsqueeze(0)
    ours = preprocess(IMAGES[0], CATALOG[model].preprocess_spec())[0]
    assert ours.shape == CATALOG[model].input_shape
    assert torch.equal(ours, expected)
