"""The fused TorchScript variant: TorchScript's oneDNN Graph fuser in Python and in the C++
programs on a small conv classifier, parity with eager, proof that the fuser ran, and the
trace-or-script choice of its graph. The programs come from the session fixture."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from conftest import REPO_ROOT
from cpp_helpers import ATOL, assert_infer_reproduces, random_image, run, write_input
from toy_models import BatchDependent, FailsOnRun, conv_bn_classifier

from tvdeploy.build.load import FusedModule
from tvdeploy.build.torchscript import make_variant, save_first_deployable, traced_if_exact
from tvdeploy.harnesses import harness
from tvdeploy.host.devices import read_cpu_flags
from tvdeploy.registry import ONEDNN_FUSION, VARIANTS
from tvdeploy.tasks import classification

pytestmark = pytest.mark.slow
RTOL, PARITY_ATOL = 1e-4, 1e-6
DEFAULT_BF16_RTOL = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())["parity"]["bf16_rtol"]


@pytest.fixture(scope="module")
def fused_file(tmp_path_factory):
    """The conv classifier as the derive rule builds the fused variant: (path, eager module)."""
    net = conv_bn_classifier(seed=2)
    example = torch.randn(1, 3, 16, 16)
    graph, source = traced_if_exact(net, torch.jit.script(net), (example,), RTOL, PARITY_ATOL, classification)
    assert source.startswith("traced")
    path = tmp_path_factory.mktemp("fused") / "fused.pt"
    make_variant(graph, "fused").save(str(path))
    return path, net


def test_python_harness_fuses_and_reproduces_eager(fused_file):
    path, net = fused_file
    assert VARIANTS["fused"].load_transform == ONEDNN_FUSION
    module = harness("ts-python").load(path, "toy", torch.device("cpu"), "fused")
    assert isinstance(module, FusedModule) and module.profiling_calls >= 1
    for batch in (1, 3):
        x = torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(batch))
        with torch.inference_mode():
            fused, eager = module(x), net(x)
        # Every returned output, the first of a new shape included, comes from the fused graph.
        assert module.fusion_groups() > 0
        torch.testing.assert_close(fused, eager, atol=ATOL, rtol=0)


def test_cpp_programs_fuse_and_match_python(cpp_binaries, fused_file, toy_labels, tmp_path):
    path, net = fused_file
    assert_infer_reproduces(
        cpp_binaries["infer"], path, toy_labels, tmp_path, [net], extra=("--transform", ONEDNN_FUSION)
    )
    dat = write_input(tmp_path / "bench_input.dat", random_image(4))

    bench_out = tmp_path / "bench.json"
    common = ["--model", path, "--input", dat, "--device", "cpu", "--threads", 1, "--batch-size", 2]
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    fused = run(cpp_binaries["bench"], *common, *protocol, "--transform", ONEDNN_FUSION, "--output", bench_out)
    assert fused.returncode == 0, fused.stderr
    report = json.loads(bench_out.read_text())
    # The fuser ran: the graph the executor last ran holds oneDNN fusion groups.
    assert report["fusion_groups"] > 0 and report["first_call_s"] > 0
    plain = run(cpp_binaries["bench"], *common, *protocol, "--output", bench_out)
    assert plain.returncode == 0, plain.stderr
    assert "fusion_groups" not in json.loads(bench_out.read_text())


def test_the_fuser_stays_off_for_other_modules_of_the_process(fused_file, toy_model):
    """On a module that is not frozen the fuser computes wrong logits, so FusedModule switches it
    on only during its own calls."""
    path, _ = fused_file
    fused = harness("ts-python").load(path, "toy", torch.device("cpu"), "fused")
    _, unfrozen = toy_model
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        fused(x)
        assert not torch.jit.onednn_fusion_enabled()
        reference = unfrozen(x)
        for _ in range(3):  # past the profiling run, where the executor would fuse
            fused(x)
            torch.testing.assert_close(unfrozen(x), reference, atol=0, rtol=0)


def test_a_trace_that_does_not_generalise_falls_back_to_the_scripted_graph():
    net = BatchDependent().eval()
    scripted = torch.jit.script(net)
    graph, source = traced_if_exact(net, scripted, (torch.randn(1, 3, 4, 4),), RTOL, PARITY_ATOL, classification)
    assert graph is scripted and source.startswith("scripted: the trace differs at batch 2")


def test_the_first_graph_that_runs_and_reproduces_eager_is_kept(fused_file, tmp_path):
    _, net = fused_file
    example = torch.randn(1, 3, 16, 16)
    with torch.inference_mode():
        reference = net(example)
    broken, good = torch.jit.script(FailsOnRun()), torch.jit.script(net)
    path = tmp_path / "variant.pt"
    status, attempts = save_first_deployable(
        [(broken, "traced"), (good, "scripted")],
        "fused",
        path,
        torch.device("cpu"),
        (example,),
        reference,
        RTOL,
        PARITY_ATOL,
        classification,
    )
    assert status == "ok" and [a["graph"] for a in attempts] == ["traced", "scripted"]
    assert "vector::_M_range_check" in attempts[0]["error"] and attempts[1]["parity_random_input"]["within_tolerance"]
    with torch.inference_mode():
        torch.testing.assert_close(
            harness("ts-python").load(path, "toy", torch.device("cpu"), "fused")(example), reference
        )
    # None runs: the last is kept for the run to record its failure, and nothing raises here.
    status, attempts = save_first_deployable(
        [(broken, "scripted")],
        "fused",
        path,
        torch.device("cpu"),
        (example,),
        reference,
        RTOL,
        PARITY_ATOL,
        classification,
    )
    assert status == "failed" and "error" in attempts[0] and path.is_file()


@pytest.mark.skipif(not set(VARIANTS["bf16"].native_cpu_flags) & read_cpu_flags(), reason="no native bfloat16")
def test_the_bfloat16_variant_keeps_float32_io_and_stays_within_its_tolerance(tmp_path):
    net = conv_bn_classifier(seed=5)
    path = tmp_path / "bf16.pt"
    # A scripted copy: the builder converts the module it is given in place.
    make_variant(torch.jit.script(conv_bn_classifier(seed=5)), "bf16").save(str(path))
    module = harness("ts-python").load(path, "toy", torch.device("cpu"), "bf16")
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        low, eager = module(x), net(x)
    assert low.dtype == torch.float32 and "BFloat16" in str(module.graph)
    # Not float32: bfloat16 rounding shows, and stays within the bf16 parity tolerance.
    assert 0 < (low - eager).abs().max().item() <= DEFAULT_BF16_RTOL * eager.abs().max().item()


def test_the_fused_bfloat16_variant_runs_the_traced_bf16_graph_through_the_fuser(tmp_path):
    """fused_bf16: the traced graph in bfloat16, frozen, loaded with the fuser; float32 in and out,
    within the bf16 tolerance of eager. Fused into oneDNN Graph partitions where the CPU has
    native bfloat16 (elsewhere oneDNN may leave bf16 to ATen: the outputs are checked all the same)."""
    net = conv_bn_classifier(seed=5)
    example = torch.randn(1, 3, 16, 16)
    # A copy: the trace shares the module's parameters, which the builder converts in place.
    copy = conv_bn_classifier(seed=5)
    graph, source = traced_if_exact(copy, torch.jit.script(copy), (example,), RTOL, PARITY_ATOL, classification)
    assert source.startswith("traced")
    path = tmp_path / "fused_bf16.pt"
    make_variant(graph, "fused_bf16").save(str(path))
    assert VARIANTS["fused_bf16"].load_transform == ONEDNN_FUSION and VARIANTS["fused_bf16"].precision == "bfloat16"
    module = harness("ts-python").load(path, "toy", torch.device("cpu"), "fused_bf16")
    assert isinstance(module, FusedModule)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        low, eager = module(x), net(x)
    assert low.dtype == torch.float32
    assert 0 < (low - eager).abs().max().item() <= DEFAULT_BF16_RTOL * eager.abs().max().item()
    if set(VARIANTS["fused_bf16"].native_cpu_flags) & read_cpu_flags():
        assert module.fusion_groups() > 0
