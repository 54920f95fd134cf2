"""TorchScript export of a model's plain outputs and its deployment variants, after save and reload."""

import pytest
import torch
from toy_models import CLIP_SHAPE, linear_classifier, video_classifier

from tvdeploy.build.load import apply_load_transform
from tvdeploy.build.torchscript import VARIANT_BUILDERS, make_variant, script_deployable
from tvdeploy.catalog.models import build_model, random_state_dict
from tvdeploy.registry import VARIANTS, derived_variants
from tvdeploy.tasks import classification
from tvdeploy.tasks.classification import compare_outputs, output_tensor


@pytest.mark.parametrize(
    "name, size, kind",
    [
        ("googlenet", 224, "GoogLeNetOutputs[logits]"),
        ("inception_v3", 299, "InceptionOutputs[logits]"),
        ("squeezenet1_1", 224, "tensor"),
    ],
)
def test_every_export_returns_a_logits_tensor(tmp_path, name, size, kind):
    path = tmp_path / f"{name}.pth"
    torch.save(random_state_dict(name, seed=0), path)
    net = build_model(name, path)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    scripted, output_kind = script_deployable(net, (x,), classification)
    assert output_kind == kind
    with torch.inference_mode():
        out = scripted(x)
        ref = output_tensor(net(x))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1000)
    assert compare_outputs(ref, out, rtol=1e-4, atol=1e-5)["within_tolerance"]


@pytest.fixture(scope="module")
def resnet18_plain(tmp_path_factory):
    path = tmp_path_factory.mktemp("r18") / "r18.pth"
    torch.save(random_state_dict("resnet18", seed=0), path)
    net = build_model("resnet18", path)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    scripted, _ = script_deployable(net, (x,), classification)
    pt = path.with_suffix(".pt")
    scripted.save(str(pt))
    with torch.inference_mode():
        return pt, net(x), x


@pytest.mark.parametrize("variant", ["frozen", "optimized", "channels_last"])
def test_variants_agree_with_eager_after_save_and_reload(resnet18_plain, tmp_path, variant):
    pt, reference, x = resnet18_plain
    module = make_variant(torch.jit.load(str(pt)), variant)
    saved = tmp_path / f"{variant}.pt"
    module.save(str(saved))
    deployed = apply_load_transform(torch.jit.load(str(saved)), VARIANTS[variant].load_transform)
    with torch.inference_mode():
        out = deployed(x)
    assert out.dtype == torch.float32 and out.shape == (1, 1000)
    comparison = compare_outputs(reference, out, rtol=1e-4, atol=1e-9)
    assert comparison["within_tolerance"] and comparison["top5_match"], comparison
    if variant != "channels_last":
        assert "prim::GetAttr" not in str(deployed.graph)  # frozen: weights inlined as constants


@pytest.mark.parametrize("variant", ["frozen", "channels_last", "fused"])
def test_a_video_models_variants_take_5d_clips(tmp_path, variant):
    from tvdeploy.tasks import video

    net = video_classifier(seed=0)
    x = torch.randn((2, *CLIP_SHAPE[1:]), generator=torch.Generator().manual_seed(2))
    scripted, kind = script_deployable(net, (x,), video)
    assert kind == "tensor"
    module = make_variant(scripted, variant)
    saved = tmp_path / f"{variant}.pt"
    module.save(str(saved))
    deployed = apply_load_transform(torch.jit.load(str(saved)), VARIANTS[variant].load_transform)
    with torch.inference_mode():
        reference, out = net(x), deployed(x)
    assert out.shape == (2, 10)
    assert video.compare_outputs(reference, out, rtol=1e-4, atol=1e-6)["within_tolerance"]


def test_channels_last_strides_a_video_models_5d_weights_ntwhc():
    from tvdeploy.build.torchscript import to_channels_last

    net = video_classifier(seed=0)
    with pytest.raises(RuntimeError, match="rank 4"):
        net.to(memory_format=torch.channels_last)  # why the variant strides tensor by tensor
    weight = to_channels_last(torch.jit.script(net)).state_dict()["0.weight"]
    assert weight.dim() == 5 and weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert not weight.is_contiguous()


def test_fp16_variant_keeps_float32_interface(tmp_path):
    net = torch.jit.script(linear_classifier(12, 5))
    half = make_variant(net, "fp16")
    x = torch.randn(2, 3, 2, 2)
    with torch.inference_mode():
        out = half(x)
    assert out.dtype == torch.float32
    assert "aten::half" in str(half.graph) or "Half" in str(half.graph)


def test_every_registry_variant_has_a_builder_and_no_other():
    assert set(VARIANT_BUILDERS) == set(derived_variants())
    with pytest.raises(ValueError, match="unknown TorchScript variant"):
        make_variant(torch.jit.script(torch.nn.Identity()), "int8")
