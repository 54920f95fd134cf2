"""The failure classes and error texts shared by build records, tables and the deployability matrix."""

from __future__ import annotations

from tvdeploy.registry import failures


def test_text_patterns_win_over_the_phase_and_the_phase_is_the_fallback():
    assert failures.classify_text("RuntimeError: CUDA out of memory", failures.RUN_ERROR) == failures.OUT_OF_MEMORY
    assert failures.classify_text("aten::foo is not supported", failures.EXPORT_ERROR) == failures.UNSUPPORTED
    assert failures.classify_text("worker exited unexpectedly (signal 11)") == failures.CRASHED
    assert failures.classify_text("shape mismatch", failures.COMPILE_ERROR) == failures.COMPILE_ERROR


def test_exception_types_and_declared_classes():
    assert failures.classify(TimeoutError("x"), failures.EXPORT_ERROR) == failures.TIMEOUT
    assert failures.classify(MemoryError(), failures.EXPORT_ERROR) == failures.OUT_OF_MEMORY
    declared = RuntimeError("anything")
    declared.error_class = failures.LOAD_ERROR
    assert failures.classify(declared, failures.RUN_ERROR) == failures.LOAD_ERROR
    assert failures.failure_fields(ValueError("bad"), failures.RUN_ERROR) == {
        "error": "ValueError: bad",
        "error_class": failures.RUN_ERROR,
    }


def test_error_text_is_shortened_and_error_line_picks_the_raised_line():
    long = failures.error_text(RuntimeError("x" * 5000), limit=100)
    assert len(long) <= 100 and long.endswith("… (truncated)")
    interpreter = RuntimeError(
        "The following operation failed in the TorchScript interpreter.\n  File x\n\nvector::_M_range_check\n"
    )
    assert failures.error_line(interpreter, raised_last=True) == "RuntimeError: vector::_M_range_check"
    assert failures.error_line(RuntimeError("\x1b[31mfirst\x1b[0m\nsecond")) == "RuntimeError: first"
    assert failures.error_line(RuntimeError("")) == "RuntimeError: "


def test_known_upstream_issues_are_found_by_artifact_and_model():
    # mvit_v2_s's ONNX export runs past its time limit: the error text cannot tell, the build can.
    assert failures.upstream_issues("build took longer than 360 s", "onnx", "mvit_v2_s") == [
        "pytorch#90046",
        "vision#7003",
    ]
    assert failures.upstream_issues("build took longer than 360 s", "openvino", "mvit_v2_s") == []
    assert failures.upstream_issues("x", "onnx", "r3d_18") == [] and failures.upstream_issues("x", "onnx") == []


def test_a_detectors_data_dependent_export_failure_names_its_upstream_issues():
    # torch 2.14.1's dynamo ONNX export of fasterrcnn_mobilenet_v3_large_320_fpn, as recorded.
    error = (
        "TorchExportError: Failed to export the model with torch.export. This is step 1/3 of exporting the "
        "model to ONNX.\n## Exception summary\n\n<class 'torch.fx.experimental.symbolic_shapes."
        "GuardOnDataDependentSymNode'>: Could not guard on data-dependent expression Eq(4*u1, 0) (unhinted: "
        "Eq(4*u1, 0)).  (Size-like symbols: u1)\n\nconsider using data-dependent friendly APIs such as "
        "guard_or_false.\nCaused by: (torchvision/ops/boxes.py:103 in _batched_nms_coordinate_trick)\n"
    )
    assert failures.upstream_issues(error, "onnx") == ["vision#9306", "vision#9462", "pytorch#118884"]
    # A data-dependent guard elsewhere is not this issue.
    assert failures.upstream_issues(error.replace("torchvision/ops/boxes.py", "mymodel.py"), "onnx") == []


def test_an_eager_quantized_models_export_failure_names_its_upstream_issue():
    # torch 2.14.1's dynamo ONNX export of quantized_resnet18, as the build record keeps it.
    error = (
        "TorchExportError: Failed to export the model with torch.export. This is step 1/3 of exporting the model "
        "to ONNX.\n## Exception summary\n\n<class 'AttributeError'>: __torch__.torch.classes.quantized."
        "Conv2dPackedParamsBase (of Python compilation unit at: 0) does not have a field with name '__obj_flatten__'"
    )
    assert failures.upstream_issues(error, "onnx", "quantized_resnet18") == ["pytorch#137111"]
    assert failures.upstream_issues(error.replace("__obj_flatten__", "weight"), "onnx") == []
