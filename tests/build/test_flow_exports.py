"""A model of two inputs (optical flow: an image pair) through every export and variant, with the
task's own adapter: TorchScript scripted and traced, each derived variant, ONNX, OpenVINO IR and
AOTInductor, loaded by their harnesses and run on both inputs; and a benchmark worker given one
--input per model input. raft_small itself (random weights) is in the slow tests below."""

import pytest
import torch
from toy_models import FlowEstimator

from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.torchscript import (
    input_count,
    make_variant,
    save_first_deployable,
    script_deployable,
    traced_if_exact,
    wrap,
)
from tvdeploy.harnesses import harness, input_files, worker_command
from tvdeploy.inputs.dat import write_dat
from tvdeploy.measure.compare import BlockRule
from tvdeploy.measure.processes import ProcessWorker
from tvdeploy.registry import RUNTIMES
from tvdeploy.tasks import adapter

FLOW = adapter("optical_flow")
# The smallest side RAFT takes, which the task's dynamic exports start from (DYNAMIC_AXES_MIN).
SIDE = 128
CPU = torch.device("cpu")


def pair(batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.rand(batch, 3, SIDE, SIDE, generator=generator) * 2 - 1 for _ in range(2))


@pytest.fixture
def toy():
    # Fresh per test: scripting shares the parameters, and a half-precision variant converts them.
    return FlowEstimator(seed=0)


def test_scripting_wraps_the_list_of_flows_into_the_last_flow(toy):
    example = pair(1, 0)
    scripted, kind = script_deployable(toy, example, FLOW)
    assert kind == "list[-1] of 12 flows" and input_count(scripted) == 2
    with torch.inference_mode():
        expected = toy(*example, num_flow_updates=12)[-1]
        torch.testing.assert_close(scripted(*example), expected)


def test_tracing_a_two_input_model_reproduces_it(toy):
    scripted, _ = script_deployable(toy, pair(1, 0), FLOW)
    traced, why = traced_if_exact(toy, scripted, pair(1, 0), 1e-4, 1e-6, FLOW)
    assert traced is not scripted and why.startswith("traced: reproduces eager"), why


@pytest.mark.parametrize("variant", ["frozen", "optimized", "fp16", "channels_last", "bf16", "fused"])
def test_every_torchscript_variant_takes_both_inputs(toy, variant, tmp_path):
    example = pair(2, 1)
    scripted, _ = script_deployable(toy, example, FLOW)
    with torch.inference_mode():
        reference = scripted(*example)
    rtol = {"fp16": 2e-2, "bf16": 5e-2}.get(variant, 1e-4)
    status, attempts = save_first_deployable(
        [(scripted, "scripted")], variant, tmp_path / "m.pt", CPU, example, reference, rtol, 1e-3, FLOW
    )
    assert status == "ok", attempts
    assert "max_epe" in attempts[-1]["parity_random_input"]


def test_a_wrapper_refuses_an_arity_it_has_no_class_for():
    class Three(torch.nn.Module):
        def forward(self, a, b, c):
            return a + b + c

    with pytest.raises(ValueError, match="no half wrapper for a model of 3 inputs"):
        wrap("half", Three())
    with pytest.raises(ValueError, match="unknown TorchScript variant"):
        make_variant(torch.jit.script(FlowEstimator(0)), "nope")


@pytest.mark.parametrize(
    ("runtime", "variant"),
    [
        ("onnxruntime", "plain"),
        ("openvino-python", "plain"),
        # An AOTInductor compile takes over a minute on 2 cores.
        pytest.param("aoti-python", "plain", marks=pytest.mark.slow),
        ("onnxruntime", "fp16"),
    ],
)
def test_built_artifacts_take_both_inputs_and_reproduce_the_last_flow(toy, runtime, variant, tmp_path):
    kind = RUNTIMES[runtime].artifact
    folder = tmp_path / kind
    # Another batch and another size than the example's: H and W are dynamic.
    generator = torch.Generator().manual_seed(3)
    first, second = (torch.rand(3, 3, 136, 144, generator=generator) for _ in range(2))
    with torch.inference_mode():
        expected = toy(first, second)[-1]  # before the fp16 build converts the module
    record = build_artifact(kind, toy, pair(2, 0), folder, FLOW, variant=variant)
    assert record["status"] == "ok", record["error"]
    if kind == "openvino":
        assert len(record["input_shapes"]) == 2
    module = harness(runtime).load(folder, "toy_flow", CPU, variant)
    with torch.inference_mode():
        got = FLOW.output_tensor(module(first, second))
    comparison = FLOW.compare_outputs(expected, got, 2e-2 if variant == "fp16" else 1e-4, 1e-4)
    assert comparison["within_tolerance"] and comparison["discriminates"], comparison


def test_a_worker_takes_one_input_per_model_input(toy, tmp_path):
    scripted, _ = script_deployable(toy, pair(1, 0), FLOW)
    model = tmp_path / "toy_flow.pt"
    scripted.save(str(model))
    dats = [tmp_path / f"p.{name}.dat" for name in FLOW.TASK.input_names]
    for tensor, dat in zip(pair(1, 2), dats, strict=True):
        write_dat(tensor, dat, FLOW.TASK.input_layout, {})
    assert input_files(dats) == [str(d) for d in dats] and input_files(dats[0]) == [str(dats[0])]
    command = worker_command("ts-python", "plain", "toy_flow", model, dats, "cpu", 2, 1, 1, {}, "optical_flow")
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--input"] == [str(d) for d in dats]
    rule = BlockRule(min_iters=3, max_iters=3, min_time_s=0.001, max_time_s=5.0)
    with open(tmp_path / "worker.log", "w") as log:
        worker = ProcessWorker("ts-python/plain", "toy_flow", command, log=log)
        try:
            assert worker.start()["device"] == "cpu"
            assert len(worker.block(rule)["latencies_ms"]) == 3
        finally:
            worker.close()


# ---- raft_small (random weights) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def raft():
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    return raft_small(weights=None).eval()


def raft_pair(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(x[..., :128, :128].contiguous() for x in FLOW.example_inputs(None, batch, 0))


@pytest.mark.slow
def test_raft_small_converts_to_openvino_and_reproduces_eager(raft, tmp_path):
    record = build_artifact("openvino", raft, raft_pair(2), tmp_path / "ov", FLOW)
    assert record["status"] == "ok", record["error"]
    assert record["method"] == "openvino.convert_model (trace)" and record["dynamic_multiple"] == 8
    module = harness("openvino-python").load(tmp_path / "ov", "raft_small", CPU)
    example = tuple(x[:1] for x in raft_pair(1))
    with torch.inference_mode():
        comparison = FLOW.compare_outputs(raft(*example)[-1], FLOW.output_tensor(module(*example)), 1e-4, 1e-6)
    assert comparison["within_tolerance"] and comparison["discriminates"], comparison


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["onnx", "aoti"])
def test_raft_small_torch_export_failure_is_recorded_with_its_upstream_issue(raft, kind, tmp_path):
    """torch.export specialises RAFT's batch (torch 2.14.1): AOTInductor's export fails, the
    dynamo ONNX export fixes the batch, which the build refuses; both name the upstream issues."""
    record = build_artifact(kind, raft, raft_pair(2), tmp_path / kind, FLOW)
    assert record["status"] == "failed" and record["error_class"] == "export error", record
    assert record["upstream"] == ["pytorch#155550", "vision#8116"], record["error"]
    assert [p.name for p in (tmp_path / kind).iterdir()] == ["build.json"]
