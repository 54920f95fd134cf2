"""The harness modules behind the registry: what each loads and how the C++ one is driven."""

from dataclasses import fields
from types import SimpleNamespace

import pytest
import torch
from toy_models import TwoInputs

from tvdeploy.build.torchscript import make_variant
from tvdeploy.catalog.models import random_state_dict
from tvdeploy.harnesses import harness
from tvdeploy.harnesses.cpp import ERROR_MESSAGE_CHARS, option, program_error, protocol_args
from tvdeploy.measure.bench import Protocol
from tvdeploy.measure.worker import batch_of
from tvdeploy.registry import RUNTIMES


def test_cpp_harness_passes_every_protocol_field():
    protocol = Protocol(warmup_iters=2, min_iters=3, max_iters=4, min_time_s=0.25, max_time_s=1.5, rounds=5)
    args = protocol_args(protocol)
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    assert set(pairs) == {option(f.name) for f in fields(Protocol)}
    assert pairs["--min-time-s"] == "0.25" and pairs["--rounds"] == "5" and pairs["--warmup-iters"] == "2"


def test_python_harnesses_load_their_artifacts(tmp_path):
    weights = tmp_path / "squeezenet1_1.pth"
    torch.save(random_state_dict("squeezenet1_1", seed=0), weights)
    eager = harness("eager").load(weights, "squeezenet1_1", torch.device("cpu"))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference = eager(x)
    scripted = torch.jit.script(eager)
    frozen = tmp_path / "frozen.pt"
    make_variant(scripted, "optimized").save(str(frozen))
    # The optimized variant's load transform is applied by the harness, as the C++ programs do.
    deployed = harness("ts-python").load(frozen, "squeezenet1_1", torch.device("cpu"), "optimized")
    assert "prim::GetAttr" not in str(deployed.graph)
    with torch.inference_mode():
        torch.testing.assert_close(deployed(x), reference, rtol=1e-4, atol=1e-6)


TWO_INPUT_TASK = SimpleNamespace(
    TASK=SimpleNamespace(input_names=("image1", "image2"), output_names=("flow", "score"), input_layout="NCHW"),
    deployable=lambda net, output: (net, "tuple"),
)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino-python"])
def test_peer_harnesses_take_every_input_and_return_every_output(runtime, tmp_path):
    from tvdeploy.build.exporters import build_artifact

    kind = RUNTIMES[runtime].artifact
    example = (torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8))
    record = build_artifact(kind, TwoInputs().eval(), example, tmp_path / kind, TWO_INPUT_TASK)
    assert record["status"] == "ok", record["error"]
    module = harness(runtime).load(tmp_path / kind, "two", torch.device("cpu"))
    first, second = torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8)
    flow, score = module(first, second)
    torch.testing.assert_close(flow, first - 2 * second)
    torch.testing.assert_close(score, (first - 2 * second).mean(dim=(1, 2, 3)))
    with pytest.raises(ValueError, match="takes 2 inputs, got 1"):
        module(first)


def test_worker_batches_inputs_of_any_rank():
    clip = torch.arange(3 * 4 * 2 * 2, dtype=torch.float32).reshape(1, 3, 4, 2, 2)
    batch = batch_of(clip, 3)
    assert batch.shape == (3, 3, 4, 2, 2) and batch.is_contiguous() and torch.equal(batch[2], clip[0])


def test_torchscript_harness_selects_a_quantized_models_engine_before_loading(tmp_path):
    from tvdeploy.build.load import quiet_torchscript_deprecation
    from tvdeploy.catalog.models import build_model

    model = "quantized_mobilenet_v2"  # packed for qnnpack
    weights = tmp_path / f"{model}.pth"
    torch.save(random_state_dict(model, seed=0), weights)
    path = tmp_path / f"{model}.pt"
    with quiet_torchscript_deprecation():
        torch.jit.script(build_model(model, weights)).save(str(path))
    before = torch.backends.quantized.engine
    try:
        torch.backends.quantized.engine = "x86"
        module = harness("ts-python").load(path, model, torch.device("cpu"))
        assert torch.backends.quantized.engine == "qnnpack"
        with torch.inference_mode():
            assert module(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
        # A file of no torchvision model (a probe, a hand-made module) loads under the engine as it is.
        torch.backends.quantized.engine = "x86"
        harness("ts-python").load(path, "hand-made", torch.device("cpu"))
        assert torch.backends.quantized.engine == "x86"
    finally:
        torch.backends.quantized.engine = before


def test_a_cpp_programs_error_is_its_error_paragraph_on_one_line():
    """A TorchScript error printed by infer spans lines and ends in its graph and a lone ':'
    (RAFT's fused variant): the message is the error paragraph, not that last line; a usage error
    stops at the blank line before the usage text; output without an error line gives its last line."""
    graph = "\n".join(f"  %{i} : Tensor = aten::add(%{i - 1}, %{i - 1})" for i in range(1, 2000))
    stderr = (
        "loading model\nerror: running model 'm.pt' on inputs 'a.dat' failed: \n"
        f"Schema not found for node. File a bug report.\nNode: %181 : Tensor\n{graph}\n\n:\n"
    )
    message = program_error(stderr)
    assert message.startswith("error: running model 'm.pt' on inputs 'a.dat' failed: Schema not found for node.")
    assert len(message) == ERROR_MESSAGE_CHARS and message.endswith("…")
    usage = program_error("error: --threads must be positive\n\nusage: infer --model M ...\n  --threads N\n")
    assert usage == "error: --threads must be positive"
    assert program_error("Segmentation fault\n\n") == "Segmentation fault"
    assert program_error("") == "no message"
