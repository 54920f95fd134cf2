"""Helpers shared by the tests of the C++ programs (tests/cpp/); fixtures are in conftest.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import torch
from toy_models import IMAGE_SHAPE

from tvdeploy.inputs.dat import write_dat
from tvdeploy.registry import CLASSIFICATION, TASKS

RUN_TIMEOUT_S = 300
FLOAT_BYTES = 4
ATOL = 1e-5
EXIT_RUNTIME = 1
EXIT_USAGE = 2


def save_scripted(module: torch.nn.Module, path: Path) -> torch.jit.ScriptModule:
    scripted = torch.jit.script(module.eval())
    scripted.save(str(path))
    return scripted


def write_input(
    path: Path, array: np.ndarray, layout: str = TASKS[CLASSIFICATION].input_layout, **sidecar_overrides
) -> Path:
    """Write path (.dat) and its sidecar .json with the package's own writer; sidecar_overrides
    replace or add sidecar fields (a wrong shape, dtype, ...) to test the programs' checks."""
    write_dat(
        torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)),
        path,
        layout,
        {"image": "synthetic", **sidecar_overrides},
    )
    return path


def edit_sidecar(dat: Path, drop: tuple[str, ...] = (), **fields) -> Path:
    """dat, its sidecar with the fields in drop removed and fields set (what write_dat refuses to
    write, e.g. a layout that does not fit the tensor)."""
    sidecar = dat.with_suffix(".json")
    meta = {key: value for key, value in json.loads(sidecar.read_text()).items() if key not in drop}
    sidecar.write_text(json.dumps({**meta, **fields}))
    return dat


def random_image(seed: int, shape=IMAGE_SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run(binary: Path, *args) -> subprocess.CompletedProcess:
    """Run a C++ program; the caller checks the exit code."""
    return subprocess.run(
        [str(binary), *map(str, args)],
        check=False,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def infer_args(model_path, labels, out, *inputs, extra=()):
    return [
        "--model",
        model_path,
        "--labels",
        labels,
        "--device",
        "cpu",
        "--threads",
        1,
        *extra,
        "--output",
        out,
        *inputs,
    ]


def assert_infer_reproduces(infer_binary, model_path, labels, tmp_path, references, extra=()):
    """Runs the C++ infer program on two single images and a batch of three; every row's logits
    must equal each reference's (a module called on the same batch) within ATOL."""
    images = [random_image(i) for i in range(2)] + [random_image(9, shape=(3, 3, 16, 16))]
    inputs = [write_input(tmp_path / f"img{i}.dat", image) for i, image in enumerate(images)]
    out = tmp_path / "out.json"
    proc = run(infer_binary, *infer_args(model_path, labels, out, *inputs, extra=extra))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    rows = [(image, row) for image in images for row in range(image.shape[0])]
    assert len(results) == len(rows)
    for result, (image, row) in zip(results, rows, strict=True):
        with torch.inference_mode():
            expected = [reference(torch.from_numpy(image))[row] for reference in references]
        for logits in expected:
            np.testing.assert_allclose(result["logits"], logits.numpy(), atol=ATOL, rtol=0)
