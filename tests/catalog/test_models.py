"""Building models: seeded random weights shaped like the published ones, and torchvision's own
construction semantics for pretrained weights."""

import pytest
import torch

from tvdeploy.catalog.models import (
    QuantizedEngineError,
    build_model,
    check_quantized_device,
    load_state_dict_file,
    random_state_dict,
)
from tvdeploy.registry.failures import NO_DEVICE, classify


def test_random_weights_are_seeded_and_shaped_like_the_published_file():
    a = random_state_dict("googlenet", seed=0)
    b = random_state_dict("googlenet", seed=0)
    c = random_state_dict("googlenet", seed=1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["fc.weight"], c["fc.weight"])
    # The published googlenet file carries its auxiliary classifiers; so must ours.
    assert any(k.startswith("aux1.") for k in a)


def test_random_weights_of_a_zero_initialised_head_discriminate(tmp_path):
    # torchvision starts the ViT head at zero; left so, every logit is 0 and parity proves nothing.
    state = random_state_dict("vit_b_32", seed=0)
    head = state["heads.head.weight"]
    assert head.any() and torch.equal(head, random_state_dict("vit_b_32", seed=0)["heads.head.weight"])
    assert not torch.equal(head, random_state_dict("vit_b_32", seed=1)["heads.head.weight"])
    path = tmp_path / "vit_b_32.pth"
    torch.save(state, path)
    with torch.inference_mode():
        logits = build_model("vit_b_32", path)(torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    assert float(logits.std()) > 0.01


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


# ---- eager-quantized classifiers -----------------------------------------------------------


@pytest.fixture
def default_engine():
    """Each test starts from another engine than the model's, and the process's is restored."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = "x86"
    yield
    torch.backends.quantized.engine = before


@pytest.mark.parametrize(
    "model, engine", [("quantized_shufflenet_v2_x0_5", "fbgemm"), ("quantized_mobilenet_v3_large", "qnnpack")]
)
def test_quantized_model_built_for_its_engine_from_random_weights(tmp_path, default_engine, model, engine):
    a, b = random_state_dict(model, seed=0), random_state_dict(model, seed=0)
    tensors = [k for k, v in a.items() if isinstance(v, torch.Tensor)]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in tensors)
    path = tmp_path / f"{model}.pth"
    torch.save(a, path)
    # Through the weights-only loader the workflow uses: packed parameters hold dtypes and tuples.
    assert load_state_dict_file(path).keys() == a.keys()
    torch.backends.quantized.engine = "x86"
    net = build_model(model, path)
    assert torch.backends.quantized.engine == engine
    assert any(isinstance(m, torch.ao.nn.quantized.Conv2d) for m in net.modules())
    with torch.inference_mode():
        logits = net(torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)))
    assert logits.shape == (1, 1000) and logits.dtype == torch.float32


def test_qat_state_models_get_the_qat_state_the_builder_loads():
    # torchvision's quantized mobilenet_v3 loads a QAT state (fake-quantization statistics) and
    # converts after loading (pytorch/vision#5890): random weights must have that layout.
    state = random_state_dict("quantized_mobilenet_v3_large", seed=0)
    assert any(".weight_fake_quant." in key for key in state)
    assert not any(key.endswith("_packed_params._packed_params") for key in state)


def test_quantized_models_run_on_the_cpu_only():
    check_quantized_device("quantized_resnet18", torch.device("cpu"))
    check_quantized_device("resnet18", torch.device("cuda"))  # a float model: nothing to refuse
    with pytest.raises(QuantizedEngineError, match="runs on the CPU only, not on cuda") as err:
        check_quantized_device("quantized_resnet18", torch.device("cuda"))
    # Recorded as a deployment without a device, not as a crash.
    assert classify(err.value, "run error") == NO_DEVICE
