"""The ``cudagraphs`` variant: TorchScript and AOTInductor packages replayed as CUDA graphs, in
Python (tvdeploy.build.cuda_graphs) and in the C++ programs (``--transform cuda_graph``).

Without a GPU only the refusals run; the rest needs CUDA (run on a lent GPU machine)."""

from __future__ import annotations

import json

import pytest
import torch
from cpp_helpers import ATOL, EXIT_USAGE, random_image, run, save_scripted, write_input
from toy_models import NUM_CLASSES, conv_bn_classifier

from tvdeploy.build.cuda_graphs import CudaGraphReplay, _copy
from tvdeploy.build.exporters import build_artifact
from tvdeploy.build.records import artifact_file
from tvdeploy.build.torchscript import make_variant
from tvdeploy.harnesses import harness
from tvdeploy.tasks import classification

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA device")
CUDA = torch.device("cuda")


def test_replay_refuses_a_cpu_device():
    with pytest.raises(ValueError, match="needs a CUDA device, not cpu"):
        CudaGraphReplay(lambda batch: batch, torch.device("cpu"))


def test_outputs_are_copied_out_of_the_static_buffers():
    static = torch.zeros(2)
    copied = _copy((static, [static]))
    static += 1
    assert isinstance(copied, tuple) and isinstance(copied[1], list)
    assert copied[0].sum() == 0 and copied[1][0].sum() == 0
    with pytest.raises(TypeError, match="returning dict"):
        _copy({"logits": static})


@pytest.mark.slow
@pytest.mark.parametrize("program", ["infer", "bench"])
def test_cpp_programs_refuse_cuda_graphs_on_the_cpu(cpp_binaries, toy_model, tmp_path, program):
    dat = write_input(tmp_path / "img.dat", random_image(0))
    out = tmp_path / "out.json"
    args = ["--model", toy_model[0], "--device", "cpu", "--transform", "cuda_graph", "--output", out]
    args += ["--labels", tmp_path / "labels.txt", dat] if program == "infer" else ["--input", dat]
    (tmp_path / "labels.txt").write_text("\n".join(f"c{i}" for i in range(NUM_CLASSES)))
    proc = run(cpp_binaries[program], *args)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "cuda_graph" in proc.stderr and ("CUDA only" in proc.stderr or "built with CUDA" in proc.stderr)
    assert not out.exists()


# ---- on a GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_on_cuda(tmp_path_factory):
    """The cudagraphs variant's file of a small conv classifier, on CUDA: (path, eager module)."""
    if not torch.cuda.is_available():
        pytest.skip("CUDA graphs need a CUDA device")
    net = conv_bn_classifier(seed=2).to(CUDA)
    folder = tmp_path_factory.mktemp("cudagraphs")
    plain = save_scripted(net, folder / "plain.pt")
    path = folder / "cudagraphs.pt"
    make_variant(plain, "cudagraphs").save(str(path))
    return path, net


def batches(shape, count):
    return [torch.from_numpy(random_image(seed, shape=shape)).to(CUDA) for seed in range(count)]


@needs_cuda
def test_python_replay_follows_each_input_and_captures_each_shape_once(frozen_on_cuda):
    path, net = frozen_on_cuda
    replayed = harness("ts-python").load(path, "toy", CUDA, "cudagraphs")
    assert isinstance(replayed, CudaGraphReplay)
    with torch.inference_mode():
        outputs = [(replayed(x), net(x)) for x in batches((1, 3, 16, 16), 3) + batches((3, 3, 16, 16), 2)]
    for got, expected in outputs:
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    # Different inputs give different logits: the replay reads the copied-in batch every time.
    assert not torch.equal(outputs[0][0], outputs[1][0])
    assert replayed.captures == 2


@pytest.mark.slow
@needs_cuda
def test_cpp_programs_replay_torchscript_like_python(cpp_binaries, frozen_on_cuda, tmp_path):
    path, net = frozen_on_cuda
    image = random_image(5)
    dat = write_input(tmp_path / "img.dat", image)
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"c{i}" for i in range(NUM_CLASSES)))
    out = tmp_path / "infer.json"
    common = ["--model", path, "--device", "cuda", "--transform", "cuda_graph"]
    proc = run(cpp_binaries["infer"], *common, "--labels", labels, "--output", out, dat)
    assert proc.returncode == 0, proc.stderr
    with torch.inference_mode():
        expected = net(torch.from_numpy(image).to(CUDA))[0].cpu()
    got = torch.tensor(json.loads(out.read_text())["results"][0]["logits"])
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)

    report = tmp_path / "bench.json"
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    proc = run(cpp_binaries["bench"], *common, "--input", dat, "--batch-size", 2, *protocol, "--output", report)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(report.read_text())
    assert reported["cuda_graph_captures"] == 1 and reported["device"] == "cuda"


@pytest.mark.slow
@needs_cuda
def test_aoti_package_replays_in_python_and_cpp(cpp_binaries, tmp_path):
    net = conv_bn_classifier(seed=3).to(CUDA)
    folder = tmp_path / "aoti"
    record = build_artifact("aoti", net, (torch.randn(2, 3, 16, 16),), folder, classification, device=CUDA)
    assert record["status"] == "ok", record
    replayed = harness("aoti-python").load(folder, "toy", CUDA, "cudagraphs")
    x = batches((2, 3, 16, 16), 1)[0]
    with torch.inference_mode():
        torch.testing.assert_close(replayed(x), net(x), atol=ATOL, rtol=0)
    assert replayed.captures == 1

    dat = write_input(tmp_path / "img.dat", random_image(6))
    report = tmp_path / "bench.json"
    common = ["--model", artifact_file(folder), "--device", "cuda", "--transform", "cuda_graph", "--input", dat]
    protocol = ["--rounds", 1, "--min-iters", 3, "--max-iters", 5, "--min-time-s", 0.01, "--max-time-s", 1]
    proc = run(cpp_binaries["bench"], *common, *protocol, "--output", report)
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(report.read_text())
    assert reported["format"] == "aoti" and reported["cuda_graph_captures"] == 1
