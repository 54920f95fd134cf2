"""The C++ programs with torchvision's operators (--torchvision-ops): a TorchScript model that calls
torchvision::nms loads and matches Python once the installed torchvision's operator library is
loaded; without it, or with a missing, foreign or broken library, the programs fail naming the
file and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from cpp_helpers import ATOL, EXIT_RUNTIME, infer_args, random_image, run, save_scripted, write_input
from torch import nn
from toy_models import NUM_CLASSES

pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]

OPS_LIBRARY = Path(torchvision.__file__).parent / "_C_stable.so"
IOU_THRESHOLD = 0.5


class NmsScorer(nn.Module):
    """A classifier that calls torchvision::nms: class i's logit is its score where non-maximum
    suppression keeps its box and 0 where a higher-scoring overlapping box suppresses it (boxes
    come in overlapping pairs, so the outputs depend on the operator really running)."""

    __constants__ = ["iou_threshold"]

    def __init__(self):
        super().__init__()
        self.iou_threshold = IOU_THRESHOLD
        pairs = torch.arange(NUM_CLASSES) // 2
        shift = (torch.arange(NUM_CLASSES) % 2).float()  # the pair's second box, 1 px off: IoU ~0.8
        left = pairs.float() * 20 + shift
        self.register_buffer("boxes", torch.stack([left, shift, left + 8, shift + 8], dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = x.flatten(1)[:, : self.boxes.shape[0]]
        logits = torch.zeros_like(scores)
        for row in range(scores.shape[0]):
            keep = torch.ops.torchvision.nms(self.boxes, scores[row], self.iou_threshold)
            logits[row, keep] = scores[row, keep]
        return logits


@pytest.fixture(scope="module")
def nms_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("nms") / "nms.pt"
    return path, save_scripted(NmsScorer(), path)


def infer(cpp_binaries, nms_model, labels, tmp_path, *extra):
    model_path, _ = nms_model
    dat = write_input(tmp_path / "x.dat", random_image(0))
    out = tmp_path / "out.json"
    return run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat, extra=extra)), out


def test_model_calling_nms_matches_python_with_the_installed_library(cpp_binaries, nms_model, toy_labels, tmp_path):
    _, scripted = nms_model
    proc, out = infer(cpp_binaries, nms_model, toy_labels, tmp_path, "--torchvision-ops", OPS_LIBRARY)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["torchvision_ops"] == {"library": str(OPS_LIBRARY), "version": torchvision.__version__}
    with torch.inference_mode():
        expected = scripted(torch.from_numpy(random_image(0)))[0]
    assert int((expected == 0).sum()) > 0, "the toy's NMS suppressed nothing: the check could not fail"
    np.testing.assert_allclose(report["results"][0]["logits"], expected.numpy(), atol=ATOL, rtol=0)


def test_bench_loads_the_library_and_records_it(cpp_binaries, nms_model, tmp_path):
    model_path, _ = nms_model
    dat = write_input(tmp_path / "x.dat", random_image(0))
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"],
        *("--model", model_path, "--input", dat, "--device", "cpu", "--threads", 1),
        *("--warmup-iters", 1, "--min-iters", 1, "--max-iters", 2),
        *("--torchvision-ops", OPS_LIBRARY, "--output", out),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["torchvision_ops"]["version"] == torchvision.__version__


def test_without_the_library_the_load_error_says_how_to_load_it(cpp_binaries, nms_model, toy_labels, tmp_path):
    # Classification does not need torchvision's operators, so auto (the default) loads none.
    proc, out = infer(cpp_binaries, nms_model, toy_labels, tmp_path)
    assert proc.returncode == EXIT_RUNTIME
    assert "torchvision::nms" in proc.stderr and "--torchvision-ops" in proc.stderr
    assert str(OPS_LIBRARY) in proc.stderr  # the build's library, found when it was configured
    assert not out.exists()


def test_a_missing_library_is_refused(cpp_binaries, nms_model, toy_labels, tmp_path):
    missing = tmp_path / "nowhere" / "_C_stable.so"
    proc, out = infer(cpp_binaries, nms_model, toy_labels, tmp_path, "--torchvision-ops", missing)
    assert proc.returncode == EXIT_RUNTIME
    assert f"'{missing}' does not exist" in proc.stderr
    assert not out.exists()


def test_another_torchvision_version_is_refused(cpp_binaries, nms_model, toy_labels, tmp_path):
    foreign = tmp_path / "torchvision"
    foreign.mkdir()
    (foreign / "_C_stable.so").symlink_to(OPS_LIBRARY)
    (foreign / "version.py").write_text("__version__ = '0.20.0+cpu'\n")
    proc, out = infer(cpp_binaries, nms_model, toy_labels, tmp_path, "--torchvision-ops", foreign / "_C_stable.so")
    assert proc.returncode == EXIT_RUNTIME
    assert "is torchvision 0.20.0+cpu" in proc.stderr and torchvision.__version__ in proc.stderr
    assert not out.exists()


def test_a_library_outside_a_torchvision_folder_is_refused(cpp_binaries, nms_model, toy_labels, tmp_path):
    alone = tmp_path / "_C_stable.so"
    alone.symlink_to(OPS_LIBRARY)
    proc, _ = infer(cpp_binaries, nms_model, toy_labels, tmp_path, "--torchvision-ops", alone)
    assert proc.returncode == EXIT_RUNTIME
    assert "no version.py beside it" in proc.stderr


def test_a_file_that_is_no_library_is_refused_with_the_loaders_reason(cpp_binaries, nms_model, toy_labels, tmp_path):
    broken = tmp_path / "torchvision"
    broken.mkdir()
    (broken / "_C_stable.so").write_bytes(b"not an ELF file")
    (broken / "version.py").write_text(f"__version__ = '{torchvision.__version__}'\n")
    proc, out = infer(cpp_binaries, nms_model, toy_labels, tmp_path, "--torchvision-ops", broken / "_C_stable.so")
    assert proc.returncode == EXIT_RUNTIME
    assert "cannot load torchvision operator library" in proc.stderr
    assert "invalid ELF header" in proc.stderr or "too short" in proc.stderr
    assert not out.exists()
