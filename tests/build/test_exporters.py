"""The peer runtimes' artifacts (tvdeploy.build.exporters) and their harnesses: a real model through the
ONNX export and ONNX Runtime, and through the OpenVINO conversion and OpenVINO, with parity against
eager; failed builds recorded with their class and nothing half-built; the failure classes."""

import copy
import errno
import json
import os
import time

import pytest
import torch
from torch import nn
from toy_models import SEGMENTATION_CLASSES, DataDependent, StridedSegmenter

from tvdeploy.build import exporters, recording, shapes
from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.records import BUILD_RECORD, ArtifactUnavailable, artifact_file, read_build
from tvdeploy.catalog.models import random_state_dict
from tvdeploy.harnesses import harness
from tvdeploy.registry import BUILT_ARTIFACTS, PYTHON, RUNTIMES, failures
from tvdeploy.tasks import classification, detection, segmentation

MODEL = "squeezenet1_1"


@pytest.fixture(scope="module")
def eager_net(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights") / f"{MODEL}.pth"
    torch.save(random_state_dict(MODEL, seed=0), weights)
    return harness("eager").load(weights, MODEL, torch.device("cpu"))


def example_224():
    """A seeded random example batch of two 224² images, as the workflow builds artifacts from."""
    return (torch.randn((2, 3, 224, 224), generator=torch.Generator().manual_seed(0)),)


def peer_runtimes():
    """The Python runtimes of every built artifact (the C++ ones have their own tests)."""
    return [name for name, rt in RUNTIMES.items() if rt.artifact in BUILT_ARTIFACTS and rt.language == PYTHON]


@pytest.mark.parametrize("runtime_name", peer_runtimes())
def test_runtime_reproduces_eager_at_any_batch(eager_net, tmp_path, runtime_name):
    kind = RUNTIMES[runtime_name].artifact
    record = build_artifact(kind, eager_net, example_224(), tmp_path / kind, classification)
    assert record["status"] == "ok" and record["error"] is None, record
    assert record["variant"] == "plain"
    assert record["build_s"] > 0 and record["peak_rss_mb"] > 100
    assert read_build(tmp_path / kind) == record
    assert artifact_file(tmp_path / kind).is_file()
    torch.set_num_threads(2)
    deployed = harness(runtime_name).load(tmp_path / kind, MODEL, torch.device("cpu"))
    # The batch is dynamic: 1 and 3 both run, and match eager to float32 accumulation order.
    for batch in (1, 3):
        x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch))
        with torch.inference_mode():
            reference = eager_net(x)
            out = deployed(x)
        assert out.shape == reference.shape and out.dtype == torch.float32
        scale = float(reference.abs().max())
        assert float((out - reference).abs().max()) <= 1e-4 * scale


def test_openvino_runs_float32_with_the_jobs_threads(eager_net, tmp_path):
    build_artifact("openvino", eager_net, example_224(), tmp_path / "ov", classification)
    torch.set_num_threads(1)
    deployed = harness("openvino-python").load(tmp_path / "ov", MODEL, torch.device("cpu"))
    # OpenVINO would run bf16 on a CPU with avx512_bf16 unless told otherwise.
    assert deployed.settings["INFERENCE_PRECISION_HINT"] in ("f32", "<Type: 'float32'>")
    assert deployed.settings["INFERENCE_NUM_THREADS"] == "1" and deployed.settings["ENABLE_CPU_PINNING"] == "False"
    torch.set_num_threads(2)
    assert deployed.compiled.get_property("INFERENCE_PRECISION_HINT") is not None


def test_onnxruntime_session_uses_the_jobs_threads_and_does_not_spin(eager_net, tmp_path):
    build_artifact("onnx", eager_net, example_224(), tmp_path / "onnx", classification)
    torch.set_num_threads(1)
    deployed = harness("onnxruntime").load(tmp_path / "onnx", MODEL, torch.device("cpu"))
    options = deployed.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    torch.set_num_threads(2)


@torch.library.custom_op("tvdeploy_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)[:, :10] * 2


@mystery.register_fake
def _(x):
    return x.new_empty((x.shape[0], 10))


class Mystery(nn.Module):
    """An operator PyTorch runs but no exporter or converter knows: neither ONNX nor OpenVINO
    has a translation for it."""

    def forward(self, x):
        return mystery(x)


@pytest.mark.parametrize(
    ("kind", "module", "error_class"),
    [
        ("onnx", Mystery(), failures.UNSUPPORTED),
        ("openvino", Mystery(), failures.UNSUPPORTED),
        # AOTInductor calls an operator it cannot compile through PyTorch, so it fails earlier.
        ("aoti", DataDependent(), failures.EXPORT_ERROR),
    ],
)
def test_failed_build_is_recorded_and_refused_at_load(tmp_path, kind, module, error_class):
    assert set(BUILT_ARTIFACTS) == {"onnx", "openvino", "aoti"}  # every builder has a case here
    dest = tmp_path / kind
    record = build_artifact(kind, module, (torch.randn(2, 3, 8, 8),), dest, classification)
    assert record["status"] == "failed" and record["error_class"] == error_class, record
    assert "\x1b[" not in record["error"] and record["build_s"] >= 0  # no terminal colour codes
    # Nothing half-built: the folder holds the record alone, and no staging folder is left beside it.
    assert sorted(p.name for p in dest.iterdir()) == [BUILD_RECORD]
    assert sorted(p.name for p in tmp_path.iterdir()) == [kind]
    with pytest.raises(ArtifactUnavailable, match=f"{kind} artifact was not built") as caught:
        artifact_file(dest)
    assert caught.value.error_class == record["error_class"]
    assert failures.classify(caught.value, failures.LOAD_ERROR) == record["error_class"]


def test_build_past_its_time_limit_is_a_timeout(tmp_path, monkeypatch):
    def slow_builder(net, example, folder, device, task):
        (folder / "partial.bin").write_bytes(b"x")
        time.sleep(5)
        return {}

    monkeypatch.setitem(exporters.BUILDERS, "onnx", (slow_builder, exporters.ONNX_FILE))
    record = build_artifact(
        "onnx", nn.Flatten(), (torch.randn(2, 3, 4, 4),), tmp_path / "slow", classification, timeout_s=0.5
    )
    assert record["status"] == "failed" and record["error_class"] == failures.TIMEOUT
    assert "longer than 0.5 s" in record["error"]
    assert json.loads((tmp_path / "slow" / BUILD_RECORD).read_text())["status"] == "failed"
    assert not (tmp_path / "slow" / "partial.bin").exists()


def test_a_time_limit_an_exporter_wraps_in_its_own_error_is_still_a_timeout(tmp_path, monkeypatch):
    class PassError(RuntimeError):
        """What onnx_ir's pass manager raises from any error inside a pass."""

    def wrapping_builder(net, example, folder, device, task):
        with recording.phase(failures.EXPORT_ERROR):
            try:
                time.sleep(5)
            except recording.BuildTimeout as err:
                raise PassError("An error occurred when running the pass") from err
        return {}

    monkeypatch.setitem(exporters.BUILDERS, "onnx", (wrapping_builder, exporters.ONNX_FILE))
    record = build_artifact(
        "onnx", nn.Flatten(), (torch.randn(2, 3, 4, 4),), tmp_path / "slow", classification, timeout_s=0.5
    )
    assert record["status"] == "failed" and record["error_class"] == failures.TIMEOUT
    assert "longer than 0.5 s" in record["error"]


def test_a_failed_build_names_its_known_upstream_issue(tmp_path, monkeypatch):
    def failing_builder(net, example, folder, device, task):
        with recording.phase(failures.EXPORT_ERROR):
            raise RuntimeError("graph too large")

    monkeypatch.setitem(exporters.BUILDERS, "onnx", (failing_builder, exporters.ONNX_FILE))
    example = (torch.randn(2, 3, 4, 4),)
    known = build_artifact("onnx", nn.Flatten(), example, tmp_path / "a", classification, record={"model": "mvit_v2_s"})
    assert known["upstream"] == ["pytorch#90046", "vision#7003"]
    assert known["error"] == "RuntimeError: graph too large [known upstream: pytorch#90046, vision#7003]"
    other = build_artifact("onnx", nn.Flatten(), example, tmp_path / "b", classification, record={"model": "r3d_18"})
    assert "upstream" not in other and other["error"] == "RuntimeError: graph too large"


def test_a_rebuild_replaces_the_folder(eager_net, tmp_path):
    dest = tmp_path / "onnx"
    build_artifact("onnx", Mystery(), (torch.randn(2, 3, 8, 8),), dest, classification)
    assert read_build(dest)["status"] == "failed"
    build_artifact("onnx", eager_net, example_224(), dest, classification)
    assert read_build(dest)["status"] == "ok" and (dest / exporters.ONNX_FILE).is_file()


@pytest.mark.parametrize(
    ("error", "phase", "expected"),
    [
        (TimeoutError("x"), failures.EXPORT_ERROR, failures.TIMEOUT),
        (MemoryError(), failures.EXPORT_ERROR, failures.OUT_OF_MEMORY),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory"), failures.RUN_ERROR, failures.OUT_OF_MEMORY),
        (RuntimeError("CUDA out of memory. Tried to allocate"), failures.RUN_ERROR, failures.OUT_OF_MEMORY),
        (RuntimeError("OpConversionFailure: No conversion rule found for aten::foo"), failures.CONVERSION_ERROR,
         failures.UNSUPPORTED),
        (RuntimeError("guard on data-dependent expression"), failures.EXPORT_ERROR, failures.EXPORT_ERROR),
    ],
)  # fmt: skip
def test_failure_classes(error, phase, expected):
    assert failures.classify(error, phase) == expected


def test_compile_runtime_reproduces_eager(tmp_path):
    weights = tmp_path / f"{MODEL}.pth"
    torch.save(random_state_dict(MODEL, seed=0), weights)
    eager = harness("eager").load(weights, MODEL, torch.device("cpu"))
    compiled = harness("compile").load(weights, MODEL, torch.device("cpu"))
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference, out = eager(x), compiled(x)
    assert float((out - reference).abs().max()) <= 1e-4 * float(reference.abs().max())


def test_fp16_artifact_is_half_precision_inside_float32_outside(eager_net):
    half = exporters.variant_module(copy.deepcopy(eager_net), "fp16")
    assert {p.dtype for p in half.parameters()} == {torch.float16}
    assert exporters.variant_module(eager_net, "plain") is eager_net
    # A variant that is a load transform (or unknown) has no build of its own.
    with pytest.raises(ValueError, match="no artifact is built in variant 'cudagraphs'"):
        exporters.variant_module(eager_net, "cudagraphs")
    if torch.cuda.is_available():
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0)).cuda()
        with torch.inference_mode():
            out, reference = half.cuda()(x), copy.deepcopy(eager_net).cuda()(x)
        assert out.dtype == torch.float32
        assert float((out - reference).abs().max()) <= 1e-2 * float(reference.abs().max()) + 1e-6


def test_cuda_graphs_runtime_refuses_the_cpu(tmp_path):
    weights = tmp_path / f"{MODEL}.pth"
    torch.save(random_state_dict(MODEL, seed=0), weights)
    with pytest.raises(ValueError, match="CUDA only"):
        harness("compile-cudagraphs").load(weights, MODEL, torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
def test_cuda_graphs_runtime_replays_and_reproduces_eager(tmp_path):
    from torch._dynamo.utils import counters

    weights = tmp_path / f"{MODEL}.pth"
    torch.save(random_state_dict(MODEL, seed=0), weights)
    cuda = torch.device("cuda")
    eager = harness("eager").load(weights, MODEL, cuda).eval()
    graphed = harness("compile-cudagraphs").load(weights, MODEL, cuda)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(cuda)
    with torch.inference_mode():
        reference = eager(x)
        first, second = graphed(x), graphed(x * 2)
        third = graphed(x)
    # Each call's logits outlive the next replay, and the replays recorded no skip.
    assert not torch.equal(first, second) and torch.equal(first, third)
    assert counters["inductor"]["cudagraph_skips"] == 0
    # TF32 convolutions on Ampere and later: parity at the CUDA tolerance of the workflow.
    assert float((first - reference).abs().max()) <= 1e-3 * float(reference.abs().max())


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), RuntimeError(f"[enforce fail] {os.strerror(errno.ENOSPC)}")],
)
def test_a_full_disk_fails_the_build_instead_of_blaming_the_model(tmp_path, monkeypatch, error):
    """A full disk is the machine's failure: recording it as the model's would make a rerun skip
    the model for good. The job fails, and nothing is left behind."""

    def builder_on_a_full_disk(net, example, folder, device, task):
        (folder / "model.onnx").write_bytes(b"partial")
        with recording.phase(failures.EXPORT_ERROR):
            raise error

    monkeypatch.setitem(exporters.BUILDERS, "onnx", (builder_on_a_full_disk, exporters.ONNX_FILE))
    with pytest.raises(type(error), match="No space left on device"):
        build_artifact("onnx", nn.Flatten(), (torch.randn(2, 3, 4, 4),), tmp_path / "full", classification)
    assert list(tmp_path.iterdir()) == []


def test_only_a_task_that_declares_them_gets_dynamic_image_axes():
    assert shapes.dynamic_axes(classification) == {}
    assert shapes.dynamic_axes(segmentation) == {2: "height", 3: "width"}
    example = (torch.zeros(2, 3, 52, 70),)
    assert shapes.openvino_shapes(example, classification) is None  # convert_model's default, as before
    assert shapes.openvino_shapes(example, segmentation) == [[-1, 3, -1, -1]]
    # A static-batch package of a fixed-size task is static throughout.
    assert shapes.dynamic_dims(example, classification, batch=False) is None
    assert set(shapes.dynamic_dims(example, segmentation, batch=False)[0]) == {2, 3}


def test_an_input_without_a_batch_axis_keeps_its_first_axis_fixed():
    """A detector's CHW image: its first axis is the channels, never a batch to make dynamic or
    slice; its H and W vary; an export takes one image."""
    example = (torch.zeros(3, 48, 64),)
    assert not shapes.has_batch_axis(detection) and shapes.has_batch_axis(segmentation)
    assert shapes.example_batch(detection, 2) == 1 and shapes.example_batch(classification, 2) == 2
    assert set(shapes.dynamic_dims(example, detection)[0]) == {1, 2}
    assert shapes.openvino_shapes(example, detection) == [[3, -1, -1]]
    assert shapes.dynamic_record(detection)["batch_axis"] is False
    shapes.check_dynamic_inputs({"image": [3, "height", "width"]}, detection)
    with pytest.raises(shapes.SpecialisedExport, match="height = 48"):
        shapes.check_dynamic_inputs({"image": [3, 48, "width"]}, detection)

    class OneImage(nn.Module):
        fields = detection.BOX_FIELDS

        def __init__(self):
            super().__init__()
            self.probed = []

        def forward(self, image):
            self.probed.append(tuple(image.shape))
            return [torch.zeros(1, 4), torch.zeros(1, dtype=torch.int64), torch.zeros(1)]

    net = OneImage()
    assert exporters.plain_output_module(net, example, detection) is net and net.probed == [(3, 48, 64)]


@pytest.mark.parametrize("runtime_name", peer_runtimes())
def test_segmentation_artifacts_take_the_height_and_width_of_any_image(tmp_path, runtime_name):
    """Built from one example size, each artifact runs images of other sizes (square, odd, a
    batch of two) as eager does: the real images preprocess to their own H x W."""
    net = StridedSegmenter(seed=0)
    kind = RUNTIMES[runtime_name].artifact
    example = (torch.randn((2, 3, 52, 70), generator=torch.Generator().manual_seed(0)),)
    record = build_artifact(kind, net, example, tmp_path / kind, segmentation)
    assert record["status"] == "ok", record
    assert record["dynamic_height"] == record["dynamic_width"] == [shapes.MIN_SIDE, shapes.MAX_SIDE]
    torch.set_num_threads(2)
    deployed = harness(runtime_name).load(tmp_path / kind, "toy", torch.device("cpu"))
    for shape in ((1, 3, 52, 70), (1, 3, 52, 52), (2, 3, 64, 33)):
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            out = deployed(x)
            assert out.shape == (shape[0], SEGMENTATION_CLASSES, *shape[2:])
            torch.testing.assert_close(out, net(x)["out"], rtol=1e-4, atol=1e-5)


def test_a_task_may_fall_back_to_the_torchscript_onnx_exporter(tmp_path, monkeypatch):
    """Where the dynamo export fails and the task names the TorchScript-based exporter as its
    fallback (detection), that exporter builds the graph, and the record says which exporter
    built it and why the first did not (with its upstream issues); other tasks' failures stay."""
    import types

    real_export = torch.onnx.export

    def dynamo_fails(*args, dynamo=True, **kwargs):
        if dynamo:
            raise RuntimeError("Could not guard on data-dependent expression Eq(u0, 0)")
        return real_export(*args, dynamo=False, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", dynamo_fails)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten()).eval()
    example = (torch.randn(2, 3, 8, 8),)
    falling_back = types.SimpleNamespace(
        TASK=classification.TASK, deployable=classification.deployable, ONNX_TORCHSCRIPT_FALLBACK=True
    )
    record = build_artifact("onnx", net, example, tmp_path / "fallback", falling_back)
    assert record["status"] == "ok" and record["method"] == exporters.TORCHSCRIPT_EXPORTER, record
    assert record["exporter"] == "torchscript" and record["input_shapes"] == {"input": ["batch", 3, 8, 8]}
    (attempt,) = record["failed_attempts"]
    assert attempt["method"] == exporters.DYNAMO_EXPORTER and "data-dependent" in attempt["error"]
    deployed = harness("onnxruntime").load(tmp_path / "fallback", "toy", torch.device("cpu"))
    x = torch.randn(3, 3, 8, 8)
    with torch.inference_mode():
        torch.testing.assert_close(deployed(x), net(x), rtol=1e-4, atol=1e-5)
    failed = build_artifact("onnx", net, example, tmp_path / "no_fallback", classification)
    assert failed["status"] == "failed" and "data-dependent" in failed["error"], failed


def test_a_failed_variants_attempts_give_its_error_and_class():
    from tvdeploy.build.records import failure_of

    traced = "RuntimeError: could not add op to the graph"
    scripted = "RuntimeError: Couldn't find an argument called self"
    record = {
        "status": "failed",
        "attempts": [
            {"graph": "traced: reproduces eager at shape [3, 512, 672]", "error": traced, "error_class": "run error"},
            {"graph": "scripted", "error": scripted, "error_class": "run error"},
        ],
    }
    assert failure_of(record) == (f"traced: {traced}; scripted: {scripted}", "run error")
    assert failure_of({"status": "failed", "error": "boom", "error_class": "export error"}) == ("boom", "export error")
    assert failure_of({"status": "ok", "attempts": [{"graph": "traced", "error": "x"}]}) == (None, None)
