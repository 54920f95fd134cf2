"""Operator breakdown of a profile (tvdeploy.measure.profile_ops): kinds from shapes, shares and rates."""

import pytest

from tvdeploy.measure.profile_ops import (
    CONV,
    DEPTHWISE,
    MATMUL,
    OTHER,
    POINTWISE,
    OpRecord,
    breakdown,
    kind,
    top_operators,
)


def test_kinds_from_the_weight_shape():
    assert kind("aten::conv2d", [[1, 32, 56, 56], [32, 1, 3, 3], [32]]) == DEPTHWISE
    assert kind("aten::mkldnn_convolution", [[1, 32, 56, 56], [32, 1, 5, 5], []]) == DEPTHWISE
    assert kind("aten::conv2d", [[1, 32, 56, 56], [64, 32, 1, 1], []]) == POINTWISE
    assert kind("aten::conv2d", [[1, 3, 224, 224], [64, 3, 7, 7], []]) == CONV
    # One input channel is an ordinary convolution, not a depthwise one.
    assert kind("aten::conv2d", [[1, 1, 28, 28], [8, 1, 3, 3], []]) == CONV
    assert kind("aten::addmm", [[1000], [1, 2048], [2048, 1000]]) == MATMUL
    assert kind("aten::hardswish_", [[1, 16, 112, 112]]) == OTHER
    assert kind("aten::to_dense", [[1, 16]]) == OTHER


def test_breakdown_per_forward_with_shares_and_rates():
    dw = [[1, 32, 56, 56], [32, 1, 3, 3], []]
    records = [
        OpRecord("aten::conv2d", dw, 1000.0, 2e8),  # outer call: the FLOPs, little self time
        OpRecord("aten::mkldnn_convolution", dw, 9000.0, 0.0),
        OpRecord("aten::addmm", [[10], [1, 100], [100, 10]], 2000.0, 8e9),
        OpRecord("aten::relu_", [[1, 32, 56, 56]], 8000.0, 0.0),
    ]
    table = breakdown(records, forwards=10, peak_gflop_per_s=100.0)
    assert list(table.index) == [DEPTHWISE, OTHER, MATMUL]
    assert table.loc[DEPTHWISE, "self_ms"] == pytest.approx(1.0)
    assert table.loc[DEPTHWISE, "gflop"] == pytest.approx(0.02)
    assert table.loc[DEPTHWISE, "GFLOP/s"] == pytest.approx(20.0) and table.loc[DEPTHWISE, "of peak"] == pytest.approx(
        0.2
    )
    assert table.loc[MATMUL, "GFLOP/s"] == pytest.approx(4000.0)
    assert table["time share"].sum() == pytest.approx(1.0) and table.loc[OTHER, "time share"] == pytest.approx(0.4)
    assert table.loc[MATMUL, "flop share"] == pytest.approx(0.8 / 0.82)


def test_top_operators_name_what_each_kind_is():
    dw = [[1, 32, 56, 56], [32, 1, 3, 3], []]
    records = [
        OpRecord("aten::mkldnn_convolution", dw, 9000.0, 0.0),
        OpRecord("aten::batch_norm", [[1, 32, 56, 56]], 3000.0, 0.0),
        OpRecord("aten::hardswish_", [[1, 32, 56, 56]], 5000.0, 0.0),
        OpRecord("aten::hardswish_", [[1, 64, 28, 28]], 1000.0, 0.0),
        OpRecord("aten::add", [[1, 16], [1, 16]], 10.0, 0.0),
    ]
    tops = top_operators(records, forwards=10, per_kind=2)
    assert tops[OTHER] == "aten::hardswish_ 0.60, aten::batch_norm 0.30"
    assert tops[DEPTHWISE] == "aten::mkldnn_convolution 0.90"


def test_a_model_of_two_inputs_is_profiled_on_both():
    import torch

    from tvdeploy.measure.profile_ops import MIN_FORWARDS, profile

    def flow_like(image1, image2):
        return torch.nn.functional.conv2d(image1 - image2, torch.ones(2, 3, 3, 3))

    records, forwards = profile(flow_like, (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)), max_time_s=0.1)
    assert forwards >= MIN_FORWARDS and any("conv" in r.name for r in records)
