"""Catalog models end to end at reduced cost: seeded random weights, TorchScript export through
its task's deployable wrapper, reload, and a C++ forward — all agreeing with eager (the C++
predictions compared with the Python ones by the task's own parity check).

By default one model per family (torchvision's builder module, e.g. ``resnet`` or
``quantization.shufflenetv2``: the models of a family share their code and differ in widths and
depths), the one of fewest GFLOPs: the 121 models take over an hour on 2 cores, swin3d_b alone
~7 minutes. The detectors are sampled by task, not by builder module (7 modules): their random
weights take 30-60 s each to calibrate, and tests/catalog/test_detector_models.py covers each
kind of detector already. ``TVDEPLOY_TEST_EVERY_MODEL=1`` (``make test-catalog``) tests every
catalog model.
"""

import gc
import json
import os
import shutil
import subprocess

import pytest
import torch
from conftest import EVERY_MODEL_ENV, REPO_ROOT

from tvdeploy.build.load import quiet_torchscript_deprecation
from tvdeploy.build.torchscript import script_deployable
from tvdeploy.catalog.models import build_model, categories, random_state_dict
from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.inputs.dat import write_dat
from tvdeploy.predict.outputs import resolve_tensor_outputs, store_tensor_outputs
from tvdeploy.registry.paths import input_stem
from tvdeploy.tasks import adapter

pytestmark = pytest.mark.slow

CATALOG = read_sheet(REPO_ROOT / "config" / "models.tsv")


def family(model: str) -> str:
    """The torchvision module a model's builder lives in, below torchvision.models."""
    from torchvision.models import get_model_builder

    return get_model_builder(model).__module__.removeprefix("torchvision.models.")


# Tasks whose models the default sample takes one of, whatever their builder modules.
SAMPLED_BY_TASK = ("detection",)


def sample_key(model: str) -> str:
    """What the default sample takes one model of: the model's family, or its task's name."""
    task_name = CATALOG[model].task
    return task_name if task_name in SAMPLED_BY_TASK else family(model)


def tested_models() -> list[str]:
    """Every catalog model with EVERY_MODEL_ENV=1, else the one of fewest GFLOPs of each family
    (of each task in SAMPLED_BY_TASK)."""
    if os.environ.get(EVERY_MODEL_ENV) == "1":
        return list(CATALOG)
    smallest: dict[str, str] = {}
    for model, info in CATALOG.items():
        key = sample_key(model)
        if key not in smallest or info.gflops < CATALOG[smallest[key]].gflops:
            smallest[key] = model
    return sorted(smallest.values())


def test_the_sample_covers_every_family_and_task():
    sample = tested_models()
    assert {sample_key(m) for m in sample} == {sample_key(m) for m in CATALOG}
    assert sum(CATALOG[m].task in SAMPLED_BY_TASK for m in sample) == len(SAMPLED_BY_TASK)
    assert {CATALOG[m].task for m in sample} == {info.task for info in CATALOG.values()}
    assert any(CATALOG[m].quantized for m in sample)


RTOL, ATOL = 1e-4, 1e-9  # the workflow's default parity tolerance


@pytest.fixture(scope="module")
def infer_binary(cpp_binaries):
    return cpp_binaries["infer"]


@pytest.mark.parametrize("model", tested_models())
def test_export_parity_and_cpp_forward(model, infer_binary, tmp_path):
    try:
        check_model(model, infer_binary, tmp_path)
    finally:
        # The exports of all catalog models add up to ~15 GB: keep one model's files on disk at a time.
        shutil.rmtree(tmp_path, ignore_errors=True)


def check_model(model, infer_binary, tmp_path):
    info = CATALOG[model]
    task = adapter(info.task)
    weights = tmp_path / f"{model}.pth"
    torch.save(random_state_dict(model, seed=0), weights)  # through a file, as the workflow does
    net = build_model(model, weights)
    weights.unlink()
    # One tensor per model argument (optical flow: image1, image2).
    inputs = task.example_inputs(info, 1, 0)
    scripted, _ = script_deployable(net, inputs, task)
    with torch.inference_mode():
        eager = task.output_tensor(net(*inputs))
    pt = tmp_path / f"{model}.pt"
    with quiet_torchscript_deprecation():
        scripted.save(str(pt))
        reloaded = torch.jit.load(str(pt))
    del net, scripted
    gc.collect()
    with torch.inference_mode():
        ts = task.output_tensor(reloaded(*inputs))
    if isinstance(ts, torch.Tensor):
        # A task naming classes has one output channel per class (a flow: u, v).
        assert ts.shape == eager.shape and ts.shape[:2] == (1, info.num_classes if task.TASK.has_labels else 2)
    else:
        # A detector's fields: boxes of its categories (random weights, threshold 0: some).
        assert len(ts.boxes) == len(eager.boxes) > 0 and int(ts.labels.max()) < info.num_classes
    python_check = task.compare_outputs(eager, ts, RTOL, ATOL)
    assert python_check["within_tolerance"], python_check
    # With random weights only the quantized classifiers (constant logits) and the segmenters (one
    # class everywhere) may give outputs that cannot discriminate.
    assert python_check["discriminates"] or info.quantized or info.task == "segmentation", python_check

    # One .dat per model argument, named as the workflow names them (x.image1.dat, x.image2.dat).
    names = task.TASK.input_names
    dats = [tmp_path / f"{input_stem('x', name, names)}.dat" for name in names]
    for tensor, dat in zip(inputs, dats, strict=True):
        write_dat(tensor, dat, task.TASK.input_layout, {"model": model})
    labels = tmp_path / "labels.txt" if task.TASK.has_labels else None
    if labels is not None:
        labels.write_text("\n".join(categories(model)) + "\n")
    # The Python predictions of the reloaded module, then the C++ infer's, compared as the
    # workflow's parity check compares them.
    python_out = tmp_path / "python.json"
    results = task.predict(reloaded, dats, task.decoding_context(labels), torch.device("cpu"))
    python_out.write_text(json.dumps({"results": store_tensor_outputs(results, python_out)}))
    del reloaded
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            str(infer_binary),
            "--model",
            str(pt),
            "--task",
            info.task,
            *(["--labels", str(labels)] if labels is not None else []),
            "--device",
            "cpu",
            *(["--quantized-engine", info.quantized_engine] if info.quantized else []),
            "--output",
            str(out),
            *map(str, dats),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    python_record = resolve_tensor_outputs(json.loads(python_out.read_text()), python_out)
    cpp_record = resolve_tensor_outputs(json.loads(out.read_text()), out)
    (cpp_check,) = task.compare_predictions(python_record, cpp_record, RTOL, ATOL, identity={})
    assert cpp_check["within_tolerance"] and cpp_check.get("top5_match", True), cpp_check
