"""Tests of the C++ programs (infer, bench) and of the CMake build helper.

The session fixture compiles both programs once (a minute or more on 2 cores).
"""

from __future__ import annotations

import json
import math
import os
import runpy
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tvdeploy import cppbuild
from tvdeploy.bench import Protocol, stop_reason
from tvdeploy.cppbench import run_cpp_bench
from tvdeploy.cppbuild import BuildError, build, cmake_configure_args
from tvdeploy.models import apply_load_transform, make_variant

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

REPO_ROOT = Path(__file__).resolve().parents[1]
CPP_SOURCE_DIR = REPO_ROOT / "cpp"
BUILD_SCRIPT = REPO_ROOT / "workflow" / "scripts" / "build_cpp.py"
BUILD_JOBS = 2
RUN_TIMEOUT_S = 300
NUM_CLASSES = 10
IMAGE_SHAPE = (1, 3, 16, 16)
FLOAT_BYTES = 4
ATOL = 1e-5
EXIT_RUNTIME = 1
EXIT_USAGE = 2


# --------------------------------------------------------------------- fixtures


class TupleModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.linear(x.mean(dim=(2, 3)))
        return y, y


class FlatModel(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten()


def _save_scripted(module: torch.nn.Module, path: Path) -> torch.jit.ScriptModule:
    scripted = torch.jit.script(module.eval())
    scripted.save(str(path))
    return scripted


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> tuple[Path, torch.jit.ScriptModule]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, NUM_CLASSES),
    )
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return path, _save_scripted(net, path)


@pytest.fixture(scope="session")
def labels(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_text("".join(f"class {i} é\n" for i in range(NUM_CLASSES)), encoding="utf-8")
    return path


def write_input(path: Path, array: np.ndarray, **sidecar_overrides) -> Path:
    """Write path (.dat, raw little-endian float32) and its sidecar .json."""
    array = np.ascontiguousarray(array, dtype="<f4")
    path.write_bytes(array.tobytes())
    meta = {
        "shape": list(array.shape),
        "dtype": "float32",
        "layout": "NCHW",
        "byte_order": "little",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize_size": 18,
        "crop_size": 16,
        "interpolation": "bilinear",
        "antialias": True,
        "image": "synthetic",
    }
    meta.update(sidecar_overrides)
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def random_image(seed: int, shape=IMAGE_SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def run(binary: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(binary), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


# ----------------------------------------------------------------- build helper


def test_configure_args_point_at_torch_and_json():
    import torch.utils

    args = cmake_configure_args()
    assert f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}" in args
    assert "-DCMAKE_BUILD_TYPE=Release" in args
    assert "-DCMAKE_BUILD_TYPE=Debug" in cmake_configure_args("Debug")
    (json_dir,) = [a.split("=", 1)[1] for a in args if a.startswith("-DNLOHMANN_JSON_INCLUDE_DIR=")]
    assert (Path(json_dir) / "nlohmann" / "json.hpp").is_file()


def test_configure_args_cuda_flags_iff_cuda_build():
    args = cmake_configure_args()
    values = dict(a[2:].split("=", 1) for a in args if a.startswith("-D"))
    has_cuda_flags = "CUDA_TOOLKIT_ROOT_DIR" in values and "CUDA_nvrtc_LIBRARY" in values
    assert has_cuda_flags == (torch.version.cuda is not None)
    if torch.version.cuda is not None:
        nvrtc = Path(values["CUDA_nvrtc_LIBRARY"])
        assert nvrtc.is_file()
        assert nvrtc.name.startswith("libnvrtc.so")
        assert (Path(values["CUDA_TOOLKIT_ROOT_DIR"]) / "include" / "cuda.h").is_file()
    else:
        assert not any(k.startswith("CUDA") for k in values)


def test_nvrtc_search_prefers_versioned_real_file(tmp_path, monkeypatch):
    monkeypatch.delenv(cppbuild.NVRTC_ENV, raising=False)
    lib = tmp_path / "cu99" / "lib"
    lib.mkdir(parents=True)
    real = lib / "libnvrtc.so.99.1.2"
    real.write_bytes(b"\0")
    (lib / "libnvrtc.so.99").symlink_to(real.name)
    (lib / "libnvrtc.so").symlink_to(real.name)
    (lib / "libnvrtc-builtins.so.99.1").write_bytes(b"\0")
    assert cppbuild.find_nvrtc_library([tmp_path]) == real
    with pytest.raises(BuildError, match=cppbuild.NVRTC_ENV):
        cppbuild.find_nvrtc_library([tmp_path / "empty"])


def test_cuda_root_env_must_be_a_toolkit(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    with pytest.raises(BuildError, match="CUDA_HOME"):
        cppbuild.find_cuda_root()


def test_build_rejects_dir_without_cmakelists(tmp_path):
    with pytest.raises(BuildError, match="CMakeLists.txt"):
        build(tmp_path, tmp_path / "build")


def test_cmake_reports_missing_json_headers(tmp_path):
    empty = tmp_path / "no-json-here"
    empty.mkdir()
    proc = subprocess.run(
        ["cmake", "-S", str(CPP_SOURCE_DIR), "-B", str(tmp_path / "build"), f"-DNLOHMANN_JSON_INCLUDE_DIR={empty}"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode != 0
    assert "nlohmann/json" in proc.stderr and str(empty) in proc.stderr


def test_build_returns_both_programs(cpp_binaries):
    assert set(cpp_binaries) == {"infer", "bench"}
    for path in cpp_binaries.values():
        assert path.is_file() and os.access(path, os.X_OK)


def test_snakemake_build_script_refreshes_outputs(cpp_binaries, tmp_path):
    # Re-running in the fixture's build dir is an incremental (near no-op) build.
    build_dir = cpp_binaries["infer"].parent
    stale = time.time() - 3600
    for path in cpp_binaries.values():
        os.utime(path, (stale, stale))
    log = tmp_path / "build.log"
    fake = SimpleNamespace(
        input=SimpleNamespace(cmakelists=str(CPP_SOURCE_DIR / "CMakeLists.txt")),
        params=SimpleNamespace(build_dir=str(build_dir)),
        output=SimpleNamespace(infer=str(cpp_binaries["infer"]), bench=str(cpp_binaries["bench"])),
        threads=BUILD_JOBS,
        log=[str(log)],
    )
    runpy.run_path(str(BUILD_SCRIPT), init_globals={"snakemake": fake})
    assert "cmake" in log.read_text()
    for path in cpp_binaries.values():
        assert path.stat().st_mtime > stale + 60


# ------------------------------------------------------------------------ infer


def expected_for(scripted, image: np.ndarray, k: int):
    with torch.inference_mode():
        logits = scripted(torch.from_numpy(image)).float()
    probs = torch.softmax(logits, dim=1)
    top_p, top_i = probs.topk(k, dim=1)
    return logits, top_p, top_i


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


def test_infer_matches_python(cpp_binaries, model, labels, tmp_path):
    model_path, scripted = model
    inputs = [write_input(tmp_path / f"img{i}.dat", random_image(i)) for i in range(3)]
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, *inputs))
    assert proc.returncode == 0, proc.stderr

    report = json.loads(out.read_text())
    assert report["program"] == "infer"
    assert report["model"] == str(model_path)
    assert report["device"] == "cpu"
    assert report["threads"] == 1
    assert report["torch_version"] == torch.__version__.split("+")[0]
    assert [r["input"] for r in report["results"]] == [str(p) for p in inputs]
    label_lines = labels.read_text(encoding="utf-8").splitlines()
    for i, result in enumerate(report["results"]):
        logits, top_p, top_i = expected_for(scripted, random_image(i), 5)
        assert "row" not in result
        np.testing.assert_allclose(result["logits"], logits[0].numpy(), atol=ATOL, rtol=0)
        assert [t["rank"] for t in result["topk"]] == [1, 2, 3, 4, 5]
        assert [t["class_index"] for t in result["topk"]] == top_i[0].tolist()
        assert [t["label"] for t in result["topk"]] == [label_lines[j] for j in top_i[0].tolist()]
        np.testing.assert_allclose([t["probability"] for t in result["topk"]], top_p[0].numpy(), atol=ATOL, rtol=0)
    assert list(tmp_path.glob("out.json.tmp*")) == []


def test_infer_batch_emits_one_entry_per_row(cpp_binaries, model, labels, tmp_path):
    model_path, scripted = model
    image = random_image(7, shape=(2, 3, 16, 16))
    dat = write_input(tmp_path / "batch.dat", image)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat, extra=["--topk", NUM_CLASSES]))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())["results"]
    logits, top_p, top_i = expected_for(scripted, image, NUM_CLASSES)
    assert [r["row"] for r in results] == [0, 1]
    for row, result in enumerate(results):
        np.testing.assert_allclose(result["logits"], logits[row].numpy(), atol=ATOL, rtol=0)
        assert [t["class_index"] for t in result["topk"]] == top_i[row].tolist()
        assert math.isclose(sum(t["probability"] for t in result["topk"]), 1.0, abs_tol=ATOL)


@pytest.mark.parametrize("delta_floats", [-1, 1])
def test_infer_refuses_wrong_file_size(cpp_binaries, model, labels, tmp_path, delta_floats):
    model_path, _ = model
    dat = write_input(tmp_path / "bad.dat", random_image(1))
    data = dat.read_bytes()
    data = data[:-FLOAT_BYTES] if delta_floats < 0 else data + b"\0" * FLOAT_BYTES
    dat.write_bytes(data)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    expected = math.prod(IMAGE_SHAPE) * FLOAT_BYTES
    assert "size" in proc.stderr
    assert str(len(data)) in proc.stderr and str(expected) in proc.stderr
    assert str(dat) in proc.stderr
    assert not out.exists()


def test_infer_missing_sidecar(cpp_binaries, model, labels, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "nosidecar.dat", random_image(1))
    dat.with_suffix(".json").unlink()
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert proc.stderr.startswith("error: ")
    assert str(dat.with_suffix(".json")) in proc.stderr
    assert not out.exists()


def test_infer_malformed_sidecar(cpp_binaries, model, labels, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "broken.dat", random_image(1))
    dat.with_suffix(".json").write_text('{"shape": [1, 3, 16')
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "malformed JSON" in proc.stderr and str(dat.with_suffix(".json")) in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"dtype": "float16"}, "dtype"),
        ({"shape": [3, 16, 16]}, "shape"),
        ({"shape": [1, 3, 0, 16]}, "shape"),
        ({"byte_order": "big"}, "byte_order"),
    ],
)
def test_infer_rejects_bad_sidecar_fields(cpp_binaries, model, labels, tmp_path, override, needle):
    model_path, _ = model
    dat = write_input(tmp_path / "odd.dat", random_image(1), **override)
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert needle in proc.stderr
    assert not out.exists()


def test_infer_wrong_label_count(cpp_binaries, model, tmp_path):
    model_path, _ = model
    short_labels = tmp_path / "labels.txt"
    short_labels.write_text("".join(f"c{i}\n" for i in range(NUM_CLASSES - 1)))
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, short_labels, out, dat, extra=["--topk", 3]))
    assert proc.returncode == EXIT_RUNTIME
    assert f"{NUM_CLASSES} classes" in proc.stderr and f"{NUM_CLASSES - 1} labels" in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_infer_cuda_without_gpu(cpp_binaries, model, labels, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], "--model", model_path, "--labels", labels, "--device", "cuda", "--output", out, dat
    )
    assert proc.returncode == EXIT_RUNTIME
    assert "device 'cuda' requested but no CUDA device is available" in proc.stderr
    assert not out.exists()


def test_infer_auto_device_falls_back_to_cpu(cpp_binaries, model, labels, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], "--model", model_path, "--labels", labels, "--device", "auto", "--output", out, dat
    )
    assert proc.returncode == 0, proc.stderr
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert json.loads(out.read_text())["device"] == expected


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a + ["--bogus", "1"],
        lambda a: a[:4] + a[6:],  # drops "--output OUT"
        lambda a: a[:-1],  # no input files
        lambda a: ["--topk", "0"] + a,
        lambda a: ["--topk", str(NUM_CLASSES + 1)] + a,
        lambda a: ["--topk", "five"] + a,
        lambda a: ["--device", "tpu"] + a,
        lambda a: a[:1],  # --model without a value
    ],
    ids=[
        "unknown-option",
        "missing-output",
        "no-inputs",
        "topk-0",
        "topk-too-big",
        "topk-not-int",
        "bad-device",
        "missing-value",
    ],
)
def test_infer_usage_errors(cpp_binaries, model, labels, tmp_path, mutate):
    model_path, _ = model
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    base = ["--model", str(model_path), "--labels", str(labels), "--output", str(out), str(dat)]
    proc = run(cpp_binaries["infer"], *mutate(base))
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "usage: infer" in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


def test_infer_help(cpp_binaries):
    proc = run(cpp_binaries["infer"], "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: infer")
    for option in ("--model", "--labels", "--device", "--topk", "--threads", "--output"):
        assert option in proc.stdout


def test_infer_refuses_tuple_output(cpp_binaries, labels, tmp_path):
    model_path = tmp_path / "tuple.pt"
    _save_scripted(TupleModel(), model_path)
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "Tuple" in proc.stderr and "expected a single Tensor" in proc.stderr
    assert not out.exists()


def test_infer_refuses_non_2d_output(cpp_binaries, labels, tmp_path):
    model_path = tmp_path / "flat.pt"
    _save_scripted(FlatModel(), model_path)
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert "[1, C]" in proc.stderr
    assert not out.exists()


def test_infer_reports_model_failure(cpp_binaries, model, labels, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "gray.dat", random_image(1, shape=(1, 1, 16, 16)))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model_path, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert f"running model '{model_path}' on input '{dat}' failed" in proc.stderr
    assert "channels" in proc.stderr
    assert not out.exists()


def test_infer_missing_model(cpp_binaries, labels, tmp_path):
    dat = write_input(tmp_path / "img.dat", random_image(1))
    out = tmp_path / "out.json"
    missing = tmp_path / "nope.pt"
    proc = run(cpp_binaries["infer"], *infer_args(missing, labels, out, dat))
    assert proc.returncode == EXIT_RUNTIME
    assert str(missing) in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------------ bench


def assert_obeys_stopping_rule(report):
    # The C++ loop must follow the Python harness's rule exactly: replay it on the recorded latencies.
    protocol = Protocol(
        warmup_iters=report["warmup_iters"],
        **{k: report[k] for k in ("min_iters", "max_iters", "min_time_s", "max_time_s")},
    )
    for rnd in report["rounds"]:
        latencies_s = [ms / 1000.0 for ms in rnd["latencies_ms"]]
        assert latencies_s and all(x > 0 for x in latencies_s)
        elapsed = 0.0
        for n, lat in enumerate(latencies_s, start=1):
            elapsed += lat
            reason = stop_reason(n, elapsed, protocol)
            if n < len(latencies_s):
                assert reason is None, f"should have stopped after {n} iterations ({reason})"
        assert reason == rnd["stop_reason"]
        assert rnd["wall_s"] >= sum(latencies_s) - 1e-9


def bench(cpp_binaries, model_path, dat, out, *extra):
    return run(
        cpp_binaries["bench"],
        "--model",
        model_path,
        "--input",
        dat,
        "--device",
        "cpu",
        "--threads",
        1,
        "--interop-threads",
        1,
        "--warmup-iters",
        1,
        *extra,
        "--output",
        out,
    )


@pytest.fixture
def bench_input(tmp_path) -> Path:
    return write_input(tmp_path / "img.dat", random_image(3))


def test_bench_report_structure(cpp_binaries, model, bench_input, tmp_path):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, model_path, bench_input, out, "--min-iters", 5, "--max-iters", 5)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["program"] == "bench"
    assert report["model"] == str(model_path)
    assert report["input"] == str(bench_input)
    assert report["device"] == "cpu"
    assert isinstance(report["device_name"], str) and report["device_name"]
    assert report["batch_size"] == 1
    assert report["threads"] == 1
    assert report["interop_threads"] == 1
    assert report["warmup_iters"] == 1
    assert (report["min_iters"], report["max_iters"]) == (5, 5)
    assert (report["min_time_s"], report["max_time_s"]) == (1.0, 30.0)
    assert report["torch_version"] == torch.__version__.split("+")[0]
    (rnd,) = report["rounds"]
    assert set(rnd) == {"latencies_ms", "stop_reason", "wall_s"}
    assert len(rnd["latencies_ms"]) == 5
    assert rnd["stop_reason"] == "max_iters"
    assert_obeys_stopping_rule(report)
    assert list(tmp_path.glob("bench.json.tmp*")) == []


def test_bench_stops_at_max_time_before_min_iters(cpp_binaries, model, bench_input, tmp_path):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = bench(
        cpp_binaries,
        model_path,
        bench_input,
        out,
        "--min-iters",
        1_000_000,
        "--max-iters",
        2_000_000,
        "--min-time-s",
        0.01,
        "--max-time-s",
        0.05,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    (rnd,) = report["rounds"]
    assert rnd["stop_reason"] == "max_time"
    assert 1 <= len(rnd["latencies_ms"]) < 1_000_000
    assert sum(rnd["latencies_ms"]) / 1000.0 >= 0.05 - 1e-9
    assert_obeys_stopping_rule(report)


def test_bench_min_reached_and_rounds(cpp_binaries, model, bench_input, tmp_path):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = bench(
        cpp_binaries,
        model_path,
        bench_input,
        out,
        "--min-iters",
        3,
        "--max-iters",
        1_000_000,
        "--min-time-s",
        0.02,
        "--max-time-s",
        30,
        "--rounds",
        2,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert len(report["rounds"]) == 2
    for rnd in report["rounds"]:
        assert rnd["stop_reason"] == "min_reached"
        assert len(rnd["latencies_ms"]) >= 3
    assert_obeys_stopping_rule(report)


def test_bench_batch_size(cpp_binaries, model, bench_input, tmp_path):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"],
        "--model",
        model_path,
        "--input",
        bench_input,
        "--device",
        "cpu",
        "--threads",
        2,
        "--batch-size",
        4,
        "--min-iters",
        2,
        "--max-iters",
        2,
        "--warmup-iters",
        0,
        "--output",
        out,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["batch_size"] == 4
    assert report["threads"] == 2
    assert report["warmup_iters"] == 0
    assert len(report["rounds"][0]["latencies_ms"]) == 2


def test_bench_refuses_batched_input(cpp_binaries, model, tmp_path):
    model_path, _ = model
    dat = write_input(tmp_path / "two.dat", random_image(1, shape=(2, 3, 16, 16)))
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, model_path, dat, out, "--min-iters", 1, "--max-iters", 1)
    assert proc.returncode == EXIT_RUNTIME
    assert "batch dimension 2" in proc.stderr
    assert not out.exists()


def test_bench_refuses_tuple_output(cpp_binaries, bench_input, tmp_path):
    model_path = tmp_path / "tuple.pt"
    _save_scripted(TupleModel(), model_path)
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, model_path, bench_input, out, "--min-iters", 1, "--max-iters", 1)
    assert proc.returncode == EXIT_RUNTIME
    assert "Tuple" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "extra",
    [
        ["--min-iters", 0],
        ["--min-iters", 10, "--max-iters", 9],
        ["--warmup-iters", -1],
        ["--min-time-s", 0],
        ["--min-time-s", 2, "--max-time-s", 1],
        ["--max-time-s", "nan"],
        ["--min-time-s", "fast"],
        ["--rounds", 0],
        ["--batch-size", 0],
        ["--threads", -2],
        ["--max-iters", "1e3"],
        ["--threads", 2, "--threads", 3],
        ["extra-positional"],
    ],
    ids=lambda extra: " ".join(map(str, extra)),
)
def test_bench_usage_errors(cpp_binaries, model, bench_input, tmp_path, extra):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"], "--model", model_path, "--input", bench_input, "--device", "cpu", *extra, "--output", out
    )
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "usage: bench" in proc.stderr
    assert not out.exists()


def test_bench_missing_output_and_help(cpp_binaries, model, bench_input):
    model_path, _ = model
    proc = run(cpp_binaries["bench"], "--model", model_path, "--input", bench_input)
    assert proc.returncode == EXIT_USAGE
    assert "--output" in proc.stderr and "usage: bench" in proc.stderr
    proc = run(cpp_binaries["bench"], "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: bench")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_bench_cuda_without_gpu(cpp_binaries, model, bench_input, tmp_path):
    model_path, _ = model
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"], "--model", model_path, "--input", bench_input, "--device", "cuda", "--output", out
    )
    assert proc.returncode == EXIT_RUNTIME
    assert "device 'cuda' requested but no CUDA device is available" in proc.stderr
    assert not out.exists()


# --------------------------------------------------------- variants and helpers


@pytest.fixture(scope="session")
def frozen_convbn(tmp_path_factory) -> tuple[Path, torch.jit.ScriptModule]:
    """A conv + batch-norm model frozen like the 'optimized' variant's file."""
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, NUM_CLASSES),
    ).eval()
    path = tmp_path_factory.mktemp("variant") / "frozen.pt"
    frozen = make_variant(torch.jit.script(net), "frozen")
    frozen.save(str(path))
    return path, frozen


def test_infer_optimize_transform_matches_python(cpp_binaries, frozen_convbn, labels, tmp_path):
    path, frozen = frozen_convbn
    image = random_image(11)
    dat = write_input(tmp_path / "x.dat", image)
    out = tmp_path / "out.json"
    proc = run(
        cpp_binaries["infer"], *infer_args(path, labels, out, dat, extra=("--transform", "optimize_for_inference"))
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["transform"] == "optimize_for_inference"
    optimized = apply_load_transform(torch.jit.load(str(path)), "optimize_for_inference")
    with torch.inference_mode():
        expected = optimized(torch.from_numpy(image)).squeeze(0)
    assert np.allclose(report["results"][0]["logits"], expected.numpy(), atol=ATOL)


def test_unknown_transform_is_a_usage_error(cpp_binaries, model, labels, tmp_path):
    dat = write_input(tmp_path / "x.dat", random_image(0))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(model[0], labels, out, dat, extra=("--transform", "fuse")))
    assert proc.returncode == EXIT_USAGE and "--transform" in proc.stderr
    assert not out.exists()


def test_run_cpp_bench_helper(cpp_binaries, frozen_convbn, bench_input):
    protocol = Protocol(warmup_iters=1, min_iters=3, max_iters=3, min_time_s=0.001, max_time_s=5.0, rounds=2)
    raw = run_cpp_bench(
        cpp_binaries["bench"],
        frozen_convbn[0],
        bench_input,
        "cpu",
        batch_size=2,
        protocol=protocol,
        threads=1,
        interop_threads=1,
        transform="optimize_for_inference",
    )
    assert raw["transform"] == "optimize_for_inference" and raw["batch_size"] == 2 and raw["threads"] == 1
    assert [len(r["latencies_ms"]) for r in raw["rounds"]] == [3, 3]
    assert_obeys_stopping_rule(raw)
