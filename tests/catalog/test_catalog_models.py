"""Every catalog model, end to end at reduced cost: seeded random weights, TorchScript export
through the generic logits wrapper, reload, and a C++ forward — all agreeing with eager."""

import gc
import json
import shutil
import subprocess

import pytest
import torch
from conftest import REPO_ROOT

from tvdeploy.build.load import quiet_torchscript_deprecation
from tvdeploy.build.torchscript import script_deployable
from tvdeploy.catalog.models import build_model, categories, random_state_dict
from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.inputs.dat import write_dat
from tvdeploy.tasks import classification
from tvdeploy.tasks.classification import compare_outputs, output_tensor

pytestmark = pytest.mark.slow

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")
RTOL, ATOL = 1e-4, 1e-9  # the workflow's default parity tolerance


@pytest.fixture(scope="module")
def infer_binary(cpp_binaries):
    return cpp_binaries["infer"]


@pytest.mark.parametrize("model", list(CATALOG))
def test_export_parity_and_cpp_forward(model, infer_binary, tmp_path):
    try:
        check_model(model, infer_binary, tmp_path)
    finally:
        # The exports of all 92 models add up to ~15 GB: keep one model's files on disk at a time.
        shutil.rmtree(tmp_path, ignore_errors=True)


def check_model(model, infer_binary, tmp_path):
    info = CATALOG[model]
    weights = tmp_path / f"{model}.pth"
    torch.save(random_state_dict(model, seed=0), weights)  # through a file, as the workflow does
    net = build_model(model, weights)
    weights.unlink()
    x = torch.randn(info.input_shape, generator=torch.Generator().manual_seed(0))
    scripted, _ = script_deployable(net, (x,), classification)
    with torch.inference_mode():
        eager = output_tensor(net(x))
    pt = tmp_path / f"{model}.pt"
    with quiet_torchscript_deprecation():
        scripted.save(str(pt))
        reloaded = torch.jit.load(str(pt))
    del net, scripted
    gc.collect()
    with torch.inference_mode():
        ts = reloaded(x)
    del reloaded
    assert ts.shape == (1, info.num_classes)
    python_check = compare_outputs(eager, ts, RTOL, ATOL)
    assert python_check["within_tolerance"], python_check
    # Only random-weight quantized models may return constant logits (which prove nothing).
    assert python_check["discriminates"] or info.quantized, python_check

    dat = tmp_path / "x.dat"
    write_dat(x, dat, "NCHW", {"model": model})
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(categories(model)) + "\n")
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            str(infer_binary),
            "--model",
            str(pt),
            "--labels",
            str(labels),
            "--device",
            "cpu",
            *(["--quantized-engine", info.quantized_engine] if info.quantized else []),
            "--output",
            str(out),
            str(dat),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    cpp = torch.tensor(json.loads(out.read_text())["results"][0]["logits"]).unsqueeze(0)
    cpp_check = compare_outputs(ts, cpp, RTOL, ATOL)
    assert cpp_check["within_tolerance"] and cpp_check["top5_match"], cpp_check
