"""What the registry says a runtime cannot run, checked against the runtime itself, and the plan's
report of it."""

from __future__ import annotations

import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.registry import RUNTIMES
from tvdeploy.registry.precisions import BFLOAT16, INT8

# ONNX Runtime's element type of each precision the registry declares unsupported.
ONNX_TYPES = {BFLOAT16: TensorProto.BFLOAT16}
# Conv and MatMul in bfloat16 are valid ONNX from opset 22 (Conv) and 13 (MatMul).
OPSET = 22
BF16_AMX_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"})


def one_operator_graph(op: str, element_type: int) -> bytes:
    x = helper.make_tensor_value_info("x", element_type, [1, 3, 8, 8])
    w = helper.make_tensor_value_info("w", element_type, [4, 3, 3, 3] if op == "Conv" else [8, 4])
    y = helper.make_tensor_value_info("y", element_type, [1, 4, 6, 6] if op == "Conv" else [1, 3, 8, 4])
    graph = helper.make_graph([helper.make_node(op, ["x", "w"], ["y"])], op, [x, w], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10)
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("op", ["Conv", "MatMul"])
def test_onnxruntime_has_no_kernel_for_the_precisions_it_declares_unsupported(op):
    declared = RUNTIMES["onnxruntime"].unsupported_precisions
    assert set(declared) == set(ONNX_TYPES)
    for precision in declared:
        with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented, match=op):
            onnxruntime.InferenceSession(
                one_operator_graph(op, ONNX_TYPES[precision]), providers=["CPUExecutionProvider"]
            )
    # The same graph in float32 loads: the refusal is the precision's, not the graph's.
    onnxruntime.InferenceSession(one_operator_graph(op, TensorProto.FLOAT), providers=["CPUExecutionProvider"])


def test_a_runtime_without_kernels_for_a_chosen_precision_is_reported_where_another_runs_it():
    runtimes = ("eager", "ts-cpp", "onnxruntime", "openvino-python")
    cross = CrossProduct(("cpu",), runtimes, ("plain", "bf16", "int8"), BF16_AMX_FLAGS)
    assert ("openvino-python", "bf16") in {(d.runtime, d.variant) for d in cross.on("cpu")}
    assert ("onnxruntime", "bf16") not in {(d.runtime, d.variant) for d in cross.on("cpu")}
    assert list(cross.unsupported("cpu")) == ["onnxruntime at bfloat16"]
    assert "no bfloat16 Conv or MatMul kernel" in cross.unsupported("cpu")["onnxruntime at bfloat16"]
    # Once per precision, however many of the chosen variants compute in it.
    both = CrossProduct(("cpu",), runtimes, ("plain", "bf16", "fused_bf16"), BF16_AMX_FLAGS)
    assert list(both.unsupported("cpu")) == ["onnxruntime at bfloat16"]
    # On a CPU without native bfloat16 the variant is skipped for every runtime, once, and the
    # runtime's own gap is not reported on top.
    avx2 = CrossProduct(("cpu",), runtimes, ("plain", "bf16", INT8), frozenset({"avx2", "fma"}))
    assert avx2.unsupported("cpu") == {}
    assert [reason.split(":")[0] for reason in avx2.not_run("cpu")] == [
        "variant bf16 skipped on the CPU",
        "variant int8 skipped on the CPU",
    ]


def test_each_runtime_lists_the_precisions_its_variants_compute_in():
    assert RUNTIMES["openvino-cpp"].precisions_on("cpu") == ["float32", "bfloat16", "int8"]
    assert RUNTIMES["openvino-cpp"].precisions_on("cuda") == []
    assert RUNTIMES["onnxruntime"].precisions_on("cpu") == ["float32", "int8"]
    assert "float16" in RUNTIMES["aoti-cpp"].precisions_on("cuda")
