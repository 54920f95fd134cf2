"""Building models: seeded random weights shaped like the published ones, and torchvision's own
construction semantics for pretrained weights."""

import torch

from tvdeploy.catalog.models import build_model, random_state_dict


def test_random_weights_are_seeded_and_shaped_like_the_published_file():
    a = random_state_dict("googlenet", seed=0)
    b = random_state_dict("googlenet", seed=0)
    c = random_state_dict("googlenet", seed=1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc.weight"], c["fc.weight"])
    # The published googlenet file carries its auxiliary classifiers; so must ours.
    assert any(k.startswith("aux1.") for k in a)


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


# ---- deployment variants ------------------------------------------------------------------


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
