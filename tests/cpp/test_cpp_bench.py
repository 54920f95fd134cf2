"""Tests of the C++ bench program: report, stopping rule (replayed with the Python rule), usage errors.

The session fixture cpp_binaries (conftest.py) compiles both programs once (a minute or more on 2 cores),
so every test here is slow.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, random_image, run, save_scripted, write_input
from toy_models import ClipClassifier, TupleModel

from tvdeploy.harnesses import harness
from tvdeploy.harnesses.allocator import (
    GLIBC_TUNABLES,
    allocator_settings,
    benchmark_allocator,
    benchmark_environment,
    glibc_default_environment,
)
from tvdeploy.measure.bench import Protocol, stop_reason
from tvdeploy.registry import CLASSIFICATION

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]


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


def test_bench_report_structure(cpp_binaries, toy_model, bench_input, tmp_path):
    model_path, _ = toy_model
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
    # The heap settings its environment gave it, read as the Python worker reads them.
    assert report["allocator"] == allocator_settings(os.environ)
    (rnd,) = report["rounds"]
    assert set(rnd) == {"latencies_ms", "stop_reason", "wall_s"}
    assert len(rnd["latencies_ms"]) == 5
    assert rnd["stop_reason"] == "max_iters"
    assert_obeys_stopping_rule(report)
    assert list(tmp_path.glob("bench.json.tmp*")) == []


# Worker environments, from this one: the benchmark's settings, glibc's defaults, and tunables read
# as glibc reads them (the last of a name counts; hex and octal; text it ignores).
ENVIRONMENTS = {
    "benchmark": benchmark_environment,
    "glibc-defaults": glibc_default_environment,
    "hex-octal-last-wins": lambda base: {
        **glibc_default_environment(base),
        GLIBC_TUNABLES: "glibc.malloc.trim_threshold=1:glibc.malloc.trim_threshold=0x10"
        ":glibc.malloc.mmap_threshold=010",
    },
    "unreadable": lambda base: {
        **glibc_default_environment(base),
        GLIBC_TUNABLES: "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=32M:glibc.malloc.trim_threshold=-1",
    },
}


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_bench_reports_the_heap_settings_of_its_environment(cpp_binaries, toy_model, bench_input, tmp_path, name):
    """The settings are the environment's (tvdeploy.harnesses.allocator), the same for every
    worker: the C++ bench reports them exactly as the Python worker does."""
    model_path, _ = toy_model
    out = tmp_path / "bench.json"
    environment = ENVIRONMENTS[name](os.environ)
    args = ["--model", model_path, "--input", bench_input, "--threads", 1, "--interop-threads", 1, "--warmup-iters", 1]
    proc = subprocess.run(
        [str(cpp_binaries["bench"]), *map(str, args), "--min-iters", "1", "--max-iters", "1", "--output", str(out)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["allocator"] == allocator_settings(environment)


def test_cpp_harness_runs_bench_under_the_benchmark_settings(cpp_binaries, toy_model, bench_input):
    protocol = Protocol(warmup_iters=1, min_iters=1, max_iters=1, min_time_s=0.001, max_time_s=5.0, rounds=1)
    raw = harness("ts-cpp").bench(
        cpp_binaries["bench"], toy_model[0], bench_input, "cpu", 1, protocol, 1, 1, CLASSIFICATION
    )
    assert raw["allocator"] == benchmark_allocator()


def test_bench_stops_at_max_time_before_min_iters(cpp_binaries, toy_model, bench_input, tmp_path):
    model_path, _ = toy_model
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


def test_bench_min_reached_and_rounds(cpp_binaries, toy_model, bench_input, tmp_path):
    model_path, _ = toy_model
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


def test_bench_batch_size(cpp_binaries, toy_model, bench_input, tmp_path):
    model_path, _ = toy_model
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


def test_bench_refuses_batched_input(cpp_binaries, toy_model, tmp_path):
    model_path, _ = toy_model
    dat = write_input(tmp_path / "two.dat", random_image(1, shape=(2, 3, 16, 16)))
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, model_path, dat, out, "--min-iters", 1, "--max-iters", 1)
    assert proc.returncode == EXIT_RUNTIME
    assert "batch dimension 2" in proc.stderr
    assert not out.exists()


def test_bench_repeats_an_input_of_any_rank_along_its_batch_axis(cpp_binaries, tmp_path):
    model_path = tmp_path / "clips.pt"
    save_scripted(ClipClassifier(), model_path)
    dat = write_input(tmp_path / "clip.dat", random_image(2, shape=(1, 3, 4, 8, 8)), layout="NCTHW")
    out = tmp_path / "bench.json"
    # The model's [3, C] output for a batch of three clips is checked, so the repeat went along N.
    proc = bench(cpp_binaries, model_path, dat, out, "--batch-size", 3, "--min-iters", 2, "--max-iters", 2)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["batch_size"] == 3 and len(report["rounds"][0]["latencies_ms"]) == 2


def test_bench_refuses_to_batch_an_input_without_a_batch_axis(cpp_binaries, toy_model, tmp_path):
    # One sample per call (a detector's CHW image) runs at batch size 1 only.
    dat = write_input(tmp_path / "one.dat", random_image(1, shape=(3, 16, 16)), layout="CHW")
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, toy_model[0], dat, out, "--batch-size", 2, "--min-iters", 1, "--max-iters", 1)
    assert proc.returncode == EXIT_RUNTIME
    assert f"input '{dat}' has layout \"CHW\" without a batch axis N" in proc.stderr
    assert "a task without one runs --batch-size 1" in proc.stderr
    assert not out.exists()


def test_bench_takes_one_input_per_model_input_of_the_task(cpp_binaries, toy_model, bench_input, tmp_path):
    # --input repeats, once per input of a model call: classification's calls take one.
    out = tmp_path / "bench.json"
    proc = bench(cpp_binaries, toy_model[0], bench_input, out, "--input", bench_input, "--task", CLASSIFICATION)
    assert proc.returncode == EXIT_USAGE
    assert "--task classification takes 1 --input per model call, got 2" in proc.stderr
    assert not out.exists()


def test_bench_refuses_tuple_output(cpp_binaries, bench_input, tmp_path):
    model_path = tmp_path / "tuple.pt"
    save_scripted(TupleModel(), model_path)
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
def test_bench_usage_errors(cpp_binaries, toy_model, bench_input, tmp_path, extra):
    model_path, _ = toy_model
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"], "--model", model_path, "--input", bench_input, "--device", "cpu", *extra, "--output", out
    )
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "usage: bench" in proc.stderr
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
def test_bench_cuda_without_gpu(cpp_binaries, toy_model, bench_input, tmp_path):
    model_path, _ = toy_model
    out = tmp_path / "bench.json"
    proc = run(
        cpp_binaries["bench"], "--model", model_path, "--input", bench_input, "--device", "cuda", "--output", out
    )
    assert proc.returncode == EXIT_RUNTIME
    assert "device 'cuda' requested but no CUDA device is available" in proc.stderr
    assert not out.exists()


def test_cpp_harness_runs_bench_with_the_variants_transform(cpp_binaries, frozen_convbn, bench_input):
    protocol = Protocol(warmup_iters=1, min_iters=3, max_iters=3, min_time_s=0.001, max_time_s=5.0, rounds=2)
    raw = harness("ts-cpp").bench(
        cpp_binaries["bench"],
        frozen_convbn[0],
        bench_input,
        "cpu",
        batch_size=2,
        protocol=protocol,
        threads=1,
        interop_threads=1,
        task_name=CLASSIFICATION,
        variant="optimized",
    )
    assert raw["transform"] == "optimize_for_inference" and raw["batch_size"] == 2 and raw["threads"] == 1
    assert [len(r["latencies_ms"]) for r in raw["rounds"]] == [3, 3]
    assert_obeys_stopping_rule(raw)


# ---- serve mode: a long-lived worker of the interleaved comparison ---------------------------


def serve_worker(cpp_binaries, model_path, dat, log, name="ts-cpp/plain"):
    from tvdeploy.harnesses.cpp import worker_command
    from tvdeploy.measure.processes import ProcessWorker

    # Two intra-op threads: the idle check covers OpenMP worker threads, not only the main one.
    command = worker_command(cpp_binaries["bench"], model_path, dat, "cpu", "plain", 2, 2, 1, CLASSIFICATION)
    return ProcessWorker(name, "toy", command, log=log)


SERVE_RULE_ARGS = {"min_iters": 4, "max_iters": 4, "min_time_s": 0.001, "max_time_s": 10.0}


def test_serve_answers_warmup_and_blocks_and_idles_without_cpu(cpp_binaries, toy_model, bench_input, tmp_path):
    from process_helpers import idle_cpu_seconds

    from tvdeploy.measure.compare import BlockRule
    from tvdeploy.measure.processes import WorkerError

    model_path, _ = toy_model
    with open(tmp_path / "serve.log", "w") as log:
        worker = serve_worker(cpp_binaries, model_path, bench_input, log)
        assert worker.command[worker.command.index("--task") + 1] == CLASSIFICATION
        ready = worker.start()
        assert ready["program"] == "bench" and ready["batch_size"] == 2 and ready["threads"] == 2
        assert ready["transform"] == "none" and ready["device"] == "cpu"
        warm = worker.warmup(iters=3, max_time_s=60)
        assert warm["iters"] == 3 and warm["seconds"] >= 0
        block = worker.block(BlockRule(**SERVE_RULE_ARGS))
        assert len(block["latencies_ms"]) == 4 and block["stop_reason"] == "max_iters"
        assert_obeys_stopping_rule({**SERVE_RULE_ARGS, "warmup_iters": 3, "rounds": [block]})
        idle_cpu_s = idle_cpu_seconds(worker._process.pid, seconds=2.0)
        assert idle_cpu_s < 0.05, f"an idle C++ worker used {idle_cpu_s:.3f} s of CPU in 2 s"
        for bad, needle in [
            ({"op": "dance"}, "unknown op 'dance'"),
            ({"op": "block", "min_iters": 5}, 'request lacks "max_iters"'),
            ({"op": "block", **SERVE_RULE_ARGS, "max_iters": 1}, "inconsistent block request"),
        ]:
            with pytest.raises(WorkerError, match=needle):
                worker.request(bad)
        assert worker.block(BlockRule(**SERVE_RULE_ARGS))["stop_reason"] == "max_iters"  # still serving
        worker.close()
        assert worker._process is None


def test_serve_reports_a_model_that_cannot_load(cpp_binaries, bench_input, tmp_path):
    from tvdeploy.measure.processes import WorkerError

    with open(tmp_path / "serve.log", "w") as log:
        worker = serve_worker(cpp_binaries, tmp_path / "missing.pt", bench_input, log)
        with pytest.raises(WorkerError, match="ts-cpp/plain worker for toy: reported an error: .*missing.pt"):
            worker.start()
        worker.close()


def test_serve_reports_a_model_breaking_the_contract(cpp_binaries, bench_input, tmp_path):
    from tvdeploy.measure.processes import WorkerError

    model_path = tmp_path / "tuple.pt"
    save_scripted(TupleModel(), model_path)
    with open(tmp_path / "serve.log", "w") as log:
        worker = serve_worker(cpp_binaries, model_path, bench_input, log)
        # The first forward runs before the worker reports ready, so it cannot start.
        with pytest.raises(WorkerError, match="expected a single Tensor of logits"):
            worker.start()
        worker.close()


def test_a_worker_killed_mid_run_is_named_and_the_others_are_kept(cpp_binaries, toy_model, bench_input, tmp_path):
    """Two real workers interleaved; the C++ one dies (SIGKILL) before its third block."""
    import sys

    from tvdeploy.measure.compare import BlockRule, run_interleaved
    from tvdeploy.measure.processes import ProcessWorker

    class DiesAtThirdBlock(ProcessWorker):
        calls = 0

        def block(self, rule):
            self.calls += 1
            if self.calls == 3:
                self._process.kill()
                self._process.wait()
            return super().block(rule)

    model_path, _ = toy_model
    with open(tmp_path / "workers.log", "w") as log:
        cpp = serve_worker(cpp_binaries, model_path, bench_input, log)
        dying = DiesAtThirdBlock(cpp.name, "toy", cpp.command, log=log)
        python = ProcessWorker(
            "ts-python/plain",
            "toy",
            [
                sys.executable,
                "-m",
                "tvdeploy.measure.worker",
                "--runtime",
                "ts-python",
                "--variant",
                "plain",
                "--model",
                "toy",
                "--artifact",
                str(model_path),
                "--input",
                str(bench_input),
                "--batch-size",
                "2",
                "--threads",
                "1",
                "--interop-threads",
                "1",
            ],  # fmt: skip
            log=log,
        )
        results, _ = run_interleaved(
            {"ts-cpp/plain": dying, "ts-python/plain": python},
            rounds=4,
            rule=BlockRule(**SERVE_RULE_ARGS, max_reruns=0),
            warmup_iters=1,
            warmup_max_time_s=5,
        )
    assert "ts-cpp/plain worker for toy" in results["ts-cpp/plain"].error
    assert "exit status -9" in results["ts-cpp/plain"].error
    assert len(results["ts-cpp/plain"].blocks) == 2
    assert len(results["ts-python/plain"].blocks) == 4 and results["ts-python/plain"].error is None
