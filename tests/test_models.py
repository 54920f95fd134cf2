"""Export mechanics: model construction, the generic logits wrapper, parity arithmetic."""

import pytest
import torch
from toy_models import linear_classifier

from tvdeploy.build.torchscript import script_deployable
from tvdeploy.catalog.models import build_model, random_state_dict
from tvdeploy.tasks import ParityError, check_parity
from tvdeploy.tasks.classification import compare_outputs, describe_output, output_tensor


def test_random_weights_are_seeded_and_shaped_like_the_published_file():
    a = random_state_dict("googlenet", seed=0)
    b = random_state_dict("googlenet", seed=0)
    c = random_state_dict("googlenet", seed=1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc.weight"], c["fc.weight"])
    # The published googlenet file carries its auxiliary classifiers; so must ours.
    assert any(k.startswith("aux1.") for k in a)


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


def test_random_weights_keep_module_versions(tmp_path):
    # MNASNet's loader refuses a state_dict without the per-module version metadata.
    path = tmp_path / "mnasnet.pth"
    torch.save(random_state_dict("mnasnet0_5", seed=0), path)
    assert build_model("mnasnet0_5", path).layers is not None


def test_pretrained_construction_semantics_are_kept(tmp_path):
    path = tmp_path / "g.pth"
    torch.save(random_state_dict("googlenet", seed=0), path)
    net = build_model("googlenet", path)
    # torchvision re-normalises inputs inside googlenet when built for its pretrained weights.
    assert net.transform_input is True and net.aux1 is None and not net.training


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
    with pytest.raises(ParityError, match="shapes differ"):
        compare_outputs(ref, ref[:, :3], 1e-4, 1e-5)


# ---- deployment variants ------------------------------------------------------------------

from tvdeploy.build.load import apply_load_transform  # noqa: E402
from tvdeploy.build.torchscript import VARIANT_BUILDERS, make_variant  # noqa: E402
from tvdeploy.registry import VARIANTS, derived_variants  # noqa: E402
from tvdeploy.tasks import classification  # noqa: E402


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


def test_build_model_restores_torch_hub_and_load_settings(tmp_path):
    """Weights are served to torchvision's builder through a private torch.hub cache with
    weights-only loading forced; neither setting may leak into the rest of the process."""
    import os

    hub_before = torch.hub.get_dir()
    path = tmp_path / "r18.pth"
    torch.save(random_state_dict("resnet18", seed=0), path)
    build_model("resnet18", path)
    assert torch.hub.get_dir() == hub_before
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ
