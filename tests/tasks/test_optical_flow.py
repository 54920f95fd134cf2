"""The optical-flow task's adapter: pair preprocessing (the weights' own preset), the deployable
wrapper (the last flow alone, scripted and traced), parity by end-point error (hand-computed,
not discriminating on a constant reference) and predictions (the flow stored as a .dat)."""

import math

import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image
from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights, raft_small
from torchvision.transforms.functional import pil_to_tensor

from tvdeploy import tasks
from tvdeploy.inputs.dat import read_dat, write_dat
from tvdeploy.inputs.pairs import PairReadError, list_pair_folder
from tvdeploy.predict.outputs import resolve_tensor_outputs, store_tensor_outputs
from tvdeploy.registry import paths
from tvdeploy.registry.tasks import OPTICAL_FLOW, TASKS
from tvdeploy.tasks import ParityError, adapter, check_parity
from tvdeploy.tasks.optical_flow import (
    NUM_FLOW_UPDATES,
    compare_outputs,
    compare_predictions,
    deployable,
    example_inputs,
    output_tensor,
    predict,
    preprocess,
)

PAIR = list_pair_folder(REPO_ROOT / "data" / "pairs")["chelsea_pan"]
TASK = TASKS[OPTICAL_FLOW]
SPEC = {"task": OPTICAL_FLOW}


def test_adapter_is_the_registry_one_and_the_weights_preset_finds_it():
    assert adapter(OPTICAL_FLOW).TASK is TASK
    for weights in (Raft_Small_Weights.C_T_V2, Raft_Large_Weights.C_T_SKHT_V2):
        assert tasks.task_of_weights(weights) == OPTICAL_FLOW
    assert tasks.builder_kwargs("raft_small", Raft_Small_Weights.C_T_V2) == {}


def test_preprocess_equals_the_weights_transform_on_the_shipped_pair():
    first, second = (pil_to_tensor(Image.open(p).convert("RGB")).unsqueeze(0) for p in (PAIR.first, PAIR.second))
    expected = Raft_Small_Weights.C_T_V2.transforms()(first, second)
    ours = preprocess(PAIR, SPEC)
    assert len(ours) == len(TASK.input_names) == 2
    assert ours[0].shape == (1, 3, 192, 256)
    for got, want in zip(ours, expected, strict=True):
        assert torch.equal(got, want)
    # Two paths are a pair too; a size RAFT refuses names the file.
    assert torch.equal(preprocess((PAIR.first, PAIR.second), SPEC)[1], expected[1])


def test_preprocess_refuses_a_size_raft_cannot_take_unless_the_spec_crops(tmp_path):
    for i in (1, 2):
        Image.new("RGB", (133, 130)).save(tmp_path / f"odd_{i}.png")
    odd = list_pair_folder(tmp_path)["odd"]
    with pytest.raises(PairReadError, match="odd_1.png.*multiples of 8"):
        preprocess(odd, SPEC)
    cropped = preprocess(odd, {**SPEC, "size_policy": "center_crop"})
    assert cropped[0].shape == (1, 3, 128, 128)


def test_example_inputs_are_seeded_and_raft_sized():
    a, b, c = (example_inputs(None, 2, seed) for seed in (0, 0, 1))
    assert [x.shape for x in a] == [(2, 3, 192, 256)] * 2
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True)) and not torch.equal(a[0], c[0])
    assert float(a[0].min()) >= -1 and float(a[0].max()) <= 1


def test_compare_outputs_gives_the_hand_computed_end_point_error():
    # Reference: u = 3, v = 4 everywhere but one pixel (0, 0) at zero, so the flow varies.
    reference = torch.zeros(1, 2, 2, 4)
    reference[:, 0], reference[:, 1] = 3.0, 4.0
    reference[0, :, 0, 0] = 0.0
    # Candidate: off by (0.03, 0.04) at one pixel (EPE 0.05), exact elsewhere.
    candidate = reference.clone()
    candidate[0, 0, 1, 2] += 0.03
    candidate[0, 1, 1, 2] += 0.04
    # mean magnitude = 7 pixels of 5 px + one of 0 px over 8 = 4.375; mean EPE = 0.05 / 8.
    result = compare_outputs(reference, candidate, rtol=0.01, atol=0.0)
    assert result["max_epe"] == pytest.approx(0.05)
    assert result["mean_epe"] == pytest.approx(0.05 / 8)
    assert result["flow_mean_magnitude"] == pytest.approx(4.375)
    assert result["tolerance"] == pytest.approx(0.04375)
    assert result["discriminates"] and not result["within_tolerance"]  # 0.05 > 0.04375
    assert compare_outputs(reference, candidate, rtol=0.012, atol=0.0)["within_tolerance"]  # 0.0525
    with pytest.raises(ParityError, match="max end-point error 5.000e-02"):
        check_parity(OPTICAL_FLOW, "m", result)
    with pytest.raises(ParityError, match="shapes differ"):
        compare_outputs(reference, candidate[..., :3], 0.01, 0.0)


def test_a_constant_reference_flow_does_not_discriminate():
    zero = torch.zeros(1, 2, 8, 8)
    comparison = compare_outputs(zero, zero.clone(), 1e-4, 1e-6)
    assert comparison["within_tolerance"] and comparison["discriminates"] is False
    shifted = torch.zeros(2, 2, 8, 8)
    shifted[:, 0], shifted[:, 1] = -4.0, -2.0  # the shipped pair's true flow: one vector
    assert compare_outputs(shifted, shifted + 1e-3, 1e-4, 0.0)["discriminates"] is False
    # The tolerance is relative to the reference's mean magnitude (sqrt(20) px here).
    assert compare_outputs(shifted, shifted, 1e-4, 0.0)["tolerance"] == pytest.approx(1e-4 * math.sqrt(20))


def test_output_tensor_takes_the_last_flow():
    flows = [torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)]
    assert output_tensor(flows) is flows[-1] and output_tensor(flows[0]) is flows[0]
    with pytest.raises(TypeError, match="list of flows"):
        output_tensor({"flow": flows[0]})


@pytest.fixture(scope="module")
def raft():
    torch.manual_seed(0)
    return raft_small(weights=None).eval()


@pytest.fixture(scope="module")
def pair_inputs():
    return tuple(x[..., :128, :128].contiguous() for x in preprocess(PAIR, SPEC))


def test_deployable_returns_the_last_flow_scripted_and_traced(raft, pair_inputs):
    with torch.inference_mode():
        flows = raft(*pair_inputs)
    assert isinstance(flows, list) and len(flows) == NUM_FLOW_UPDATES
    wrapped, kind = deployable(raft, flows)
    assert kind == f"list[-1] of {NUM_FLOW_UPDATES} flows"
    scripted = torch.jit.script(wrapped)
    traced = torch.jit.trace(wrapped, pair_inputs, check_trace=False)
    with torch.inference_mode():
        for module in (wrapped, scripted, traced):
            out = module(*pair_inputs)
            assert isinstance(out, torch.Tensor) and torch.allclose(out, flows[-1], atol=1e-5)
    assert deployable(scripted, flows[-1]) == (scripted, "tensor")


def _write_call(folder, image, tensors):
    dats = [folder / (paths.input_stem(image, name, TASK.input_names) + ".dat") for name in TASK.input_names]
    for tensor, dat, name in zip(tensors, dats, TASK.input_names, strict=True):
        write_dat(tensor, dat, TASK.input_layout, {"input_name": name})
    return dats


def test_predict_stores_the_flow_and_compare_predictions_gives_epe_rows(tmp_path, raft, pair_inputs):
    dats = _write_call(tmp_path, "chelsea_pan", pair_inputs)
    assert [d.name for d in dats] == ["chelsea_pan.image1.dat", "chelsea_pan.image2.dat"]
    results = predict(raft, dats, {}, torch.device("cpu"))
    assert len(results) == 1
    (entry,) = results
    with torch.inference_mode():
        expected = raft(*pair_inputs)[-1][0]
    assert entry["input"] == str(dats[0]) and entry["inputs"] == [str(d) for d in dats]
    assert entry["flow_shape"] == [2, 128, 128]
    assert torch.allclose(entry["flow"].tensor, expected, atol=1e-5)
    assert entry["mean_flow"] == pytest.approx(expected.double().mean(dim=(1, 2)).tolist(), rel=1e-5)
    assert entry["mean_magnitude"] == pytest.approx(float(expected.double().norm(dim=0).mean()), rel=1e-5)

    record_path = tmp_path / "raft_small.json"
    reference = resolve_tensor_outputs({"results": store_tensor_outputs(results, record_path)}, record_path)
    stored = read_dat(tmp_path / "raft_small.0.flow.dat")
    assert torch.equal(stored, reference["results"][0]["flow"])
    off = {"results": [{**reference["results"][0], "flow": reference["results"][0]["flow"] + 1.0}]}
    rows = compare_predictions(reference, reference, 1e-4, 1e-6, {"model": "raft_small"})
    assert rows[0]["image"] == "chelsea_pan" and rows[0]["model"] == "raft_small"
    assert rows[0]["within_tolerance"] and rows[0]["max_epe"] == 0.0
    (bad,) = compare_predictions(reference, off, 1e-4, 1e-6, {})
    assert bad["max_epe"] == pytest.approx(math.sqrt(2)) and not bad["within_tolerance"]
    with pytest.raises(TypeError, match="resolve_tensor_outputs"):
        compare_predictions({"results": results}, {"results": results}, 1e-4, 1e-6, {})


def test_predict_refuses_a_call_whose_inputs_are_out_of_order(tmp_path, raft, pair_inputs):
    dats = _write_call(tmp_path, "chelsea_pan", pair_inputs)
    with pytest.raises(ValueError, match="chelsea_pan.image2.dat is argument 'image2'"):
        predict(raft, dats[::-1], {}, torch.device("cpu"))
    with pytest.raises(ValueError, match="calls of 2 inputs"):
        predict(raft, dats[:1], {}, torch.device("cpu"))


def test_draw_prediction_sets_the_flow_colours_beside_image1_and_a_constant_flow_is_one_colour():
    from tvdeploy.inputs.pairs import read_image_pair
    from tvdeploy.tasks.optical_flow import draw_prediction

    first, second = (str(REPO_ROOT / "data" / "pairs" / f"chelsea_pan_{i}.png") for i in (1, 2))
    image1 = read_image_pair(first, second).first
    height, width = image1.shape[1:]
    flow = torch.stack([torch.full((height, width), 3.0), torch.full((height, width), -2.0)])
    entry = {"flow": flow, "mean_flow": [3.0, -2.0], "mean_magnitude": math.hypot(3, 2)}
    picture, caption = draw_prediction(entry, {"image": first, "sources": [first, second]})
    assert picture.dtype == torch.uint8 and picture.shape == (3, height, 2 * width)
    assert torch.equal(picture[:, :, :width], image1)
    coloured = picture[:, :, width:].reshape(3, -1)
    # One colour everywhere (flow_to_image normalises by the largest magnitude), not white (no flow).
    assert torch.equal(coloured, coloured[:, :1].expand_as(coloured))
    assert coloured[:, 0].tolist() != [255, 255, 255]
    assert "(+3.00, -2.00) px" in caption and "3.61 px" in caption


def test_draw_prediction_refuses_a_flow_of_another_size_than_its_image():
    from tvdeploy.tasks.optical_flow import draw_prediction

    first, second = (str(REPO_ROOT / "data" / "pairs" / f"chelsea_pan_{i}.png") for i in (1, 2))
    entry = {"flow": torch.zeros(2, 128, 128), "mean_flow": [0.0, 0.0], "mean_magnitude": 0.0}
    with pytest.raises(ValueError, match="does not fit image1"):
        draw_prediction(entry, {"image": first, "sources": [first, second]})
