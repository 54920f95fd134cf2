"""Deployability states, matrix and Markdown (tvdeploy.results.deployability)."""

import pandas as pd

from tvdeploy.results.deployability import deployability_markdown, deployability_table
from tvdeploy.results.parity import parity_table


def test_deployability_matrix_records_build_run_and_parity_failures():
    """A model whose ONNX export failed (recorded by its build, refused at load), one whose
    OpenVINO run failed, one parity miss, one benchmark crash: each is classified, the others stay
    deployed, and the document says which and by how much."""

    def prediction(model, runtime, error=None, error_class=None):
        return {"run": "r", "device": "cpu", "model": model, "runtime": runtime, "variant": "plain",
                "error": error, "error_class": error_class}  # fmt: skip

    predictions = [prediction(m, r) for m in ("resnet18", "swin_t") for r in ("eager", "ts-python")]
    predictions += [
        prediction("resnet18", "onnxruntime"),
        prediction(
            "swin_t", "onnxruntime", "ArtifactUnavailable: the onnx artifact was not built (unsupported operator): "
            "ConversionError: aten::foo", "unsupported operator",
        ),
        prediction("resnet18", "openvino-python"),
        prediction("swin_t", "openvino-python", "RuntimeError: Exception from src/inference", "run error"),
    ]  # fmt: skip
    predictions += [prediction("lraspp", r) for r in ("eager", "ts-python", "ts-cpp", "onnxruntime")]
    comparisons = [
        {"device": "cpu", "model": "resnet18", "runtime": "ts-python", "variant": "plain", "image": "a",
         "reference": "eager", "max_abs_diff": 0.5, "tolerance": 0.001, "logits_max_abs": 10.0,
         "top5_match": False, "within_tolerance": False},
        # Segmentation: one-class masks (not checked), agreeing masks, and a mask that differs.
        {"device": "cpu", "model": "lraspp", "runtime": "ts-python", "variant": "plain", "image": "a",
         "reference": "eager", "argmax_agreement": 1.0, "discriminates": False, "within_tolerance": True},
        {"device": "cpu", "model": "lraspp", "runtime": "ts-cpp", "variant": "plain", "image": "a",
         "reference": "eager", "argmax_agreement": 1.0, "discriminates": True, "within_tolerance": True},
        {"device": "cpu", "model": "lraspp", "runtime": "onnxruntime", "variant": "plain", "image": "a",
         "reference": "eager", "argmax_agreement": 0.8, "discriminates": True, "within_tolerance": False},
    ]  # fmt: skip
    parity = parity_table([{"run": "r", "comparisons": comparisons}], {})
    latency = pd.DataFrame(
        [{"run": "r", "device": "cpu", "model": "resnet18", "runtime": "onnxruntime", "variant": "plain",
          "batch_size": 1, "error": "onnxruntime/plain worker for resnet18: exited unexpectedly (exit status -9)"}]
    )  # fmt: skip
    table = deployability_table(predictions, parity, latency)
    state = table.set_index(["model", "runtime"])
    assert state.loc[("swin_t", "onnxruntime"), "status"] == "failed"
    assert state.loc[("swin_t", "onnxruntime"), "error_class"] == "unsupported operator"
    assert state.loc[("swin_t", "openvino-python"), "error_class"] == "run error"
    assert state.loc[("resnet18", "ts-python"), "status"] == "parity failed"
    assert state.loc[("resnet18", "ts-python"), "detail"].startswith(
        "vs eager: max |Δ| 500× tolerance (0.05 of the logits' scale), top-5 differ"
    )
    # An unchecked parity is its own state, never "ok"; a segmentation miss says its agreement.
    assert state.loc[("lraspp", "ts-python"), "status"] == "parity not checked"
    assert state.loc[("lraspp", "ts-cpp"), "status"] == "ok"
    assert state.loc[("lraspp", "onnxruntime"), "status"] == "parity failed"
    assert "argmax agreement 80.00%" in state.loc[("lraspp", "onnxruntime"), "detail"]
    assert state.loc[("resnet18", "onnxruntime"), "error_class"] == "benchmark: crashed"
    assert state.loc[("swin_t", "ts-python"), "status"] == state.loc[("resnet18", "openvino-python"), "status"] == "ok"
    # Runtimes in registry order, whatever order the records came in.
    assert list(table[table["model"] == "swin_t"]["runtime"]) == [
        "eager",
        "ts-python",
        "onnxruntime",
        "openvino-python",
    ]
    doc = deployability_markdown(table)
    assert "### Deployability — r · cpu" in doc
    swin_row = next(line for line in doc.splitlines() if line.startswith("| swin_t "))
    assert "✗ unsupported operator" in swin_row and "✗ run error" in swin_row and "✓" in swin_row
    assert "≠ parity" in next(line for line in doc.splitlines() if line.startswith("| resnet18 "))
    lraspp_row = next(line for line in doc.splitlines() if line.startswith("| lraspp "))
    assert "? parity" in lraspp_row and "≠ parity" in lraspp_row and "✓" in lraspp_row
    assert "ConversionError: aten::foo" in doc  # the failures section keeps the error


QUANTIZED_EXPORT_ERROR = (
    "TorchExportError: Failed to export the model with torch.export.\n<class 'AttributeError'>: "
    "__torch__.torch.classes.quantized.Conv2dPackedParamsBase (of Python compilation unit at: 0) does not have "
    "a field with name '__obj_flatten__'"
)


def test_a_failure_recorded_before_its_upstream_issue_was_known_names_it_in_the_tables():
    """A quantized classifier's ONNX build recorded as a bare export error: the deployment that
    could not load it and the build row both name pytorch#137111, read from the error; a failure
    that is no known issue names none."""
    from tvdeploy.results.frames import builds_table

    predictions = [
        {"run": "r", "device": "cpu", "model": "quantized_resnet18", "runtime": runtime, "variant": "plain",
         "error": error, "error_class": cls}
        for runtime, error, cls in (
            ("eager", None, None),
            ("onnxruntime", f"ArtifactUnavailable: the onnx artifact was not built (export error): "
             f"{QUANTIZED_EXPORT_ERROR}", "export error"),
            ("openvino-python", "RuntimeError: Exception from src/inference", "run error"),
        )
    ]  # fmt: skip
    table = deployability_table(predictions, parity_table([], {}), pd.DataFrame()).set_index("runtime")
    assert table.loc["onnxruntime", "upstream"] == "pytorch#137111"
    assert pd.isna(table.loc["openvino-python", "upstream"]) and pd.isna(table.loc["eager", "upstream"])
    builds = builds_table(
        [
            {"run": "r", "model": "quantized_resnet18", "artifact": "onnx", "status": "failed",
             "error_class": "export error", "error": QUANTIZED_EXPORT_ERROR},
            {"run": "r", "model": "quantized_resnet18", "artifact": "openvino", "status": "ok", "error": None},
        ]
    ).set_index("artifact")  # fmt: skip
    assert builds.loc["onnx", "upstream"] == "pytorch#137111" and pd.isna(builds.loc["openvino", "upstream"])


def test_a_deployment_that_reproduces_a_wrong_reference_inherits_its_miss():
    """ts-cpp is checked against ts-python on the same file: where the Python run of the fused
    variant differs from eager and the C++ run equals it exactly, the C++ run is no pass either;
    the plain C++ run beside a right Python run stays deployed, and an unjudgeable reference
    leaves its follower unjudged."""
    predictions = [
        {"run": "r", "device": "cpu", "model": model, "runtime": runtime, "variant": variant, "error": None}
        for model in ("fcn", "lraspp")
        for runtime, variant in (("eager", "plain"), ("ts-python", "plain"), ("ts-python", "fused"),
                                 ("ts-cpp", "plain"), ("ts-cpp", "fused"))
    ]  # fmt: skip

    def check(model, runtime, variant, reference, agreement, discriminates=True):
        return {"device": "cpu", "model": model, "runtime": runtime, "variant": variant, "image": "a",
                "reference": reference, "argmax_agreement": agreement, "discriminates": discriminates,
                "within_tolerance": agreement == 1.0}  # fmt: skip

    comparisons = [
        check("fcn", "ts-python", "plain", "eager", 1.0),
        check("fcn", "ts-python", "fused", "eager", 0.97),
        check("fcn", "ts-cpp", "plain", "ts-python/plain", 1.0),
        check("fcn", "ts-cpp", "fused", "ts-python/fused", 1.0),
        check("lraspp", "ts-python", "fused", "eager", 1.0, discriminates=False),
        check("lraspp", "ts-cpp", "fused", "ts-python/fused", 1.0),
    ]
    parity = parity_table([{"run": "r", "comparisons": comparisons}], {})
    state = deployability_table(predictions, parity, pd.DataFrame()).set_index(["model", "runtime", "variant"])
    assert state.loc[("fcn", "ts-python", "fused"), "status"] == "parity failed"
    assert state.loc[("fcn", "ts-cpp", "fused"), "status"] == "parity failed"
    detail = state.loc[("fcn", "ts-cpp", "fused"), "detail"]
    assert detail.startswith("as its reference ts-python/fused (vs eager: ") and "argmax agreement 97.00%" in detail
    assert state.loc[("fcn", "ts-cpp", "plain"), "status"] == "ok"
    assert state.loc[("lraspp", "ts-cpp", "fused"), "status"] == "parity not checked"
