"""The interleaved round scheduler, against fake workers of known speed on a drifting machine,
and real worker processes."""

import sys

import numpy as np
import pytest
import torch
from process_helpers import idle_cpu_seconds
from toy_models import linear_classifier

from tvdeploy.measure.compare import BlockRule, run_interleaved
from tvdeploy.measure.paired import paired_ratio, sequential_ratio
from tvdeploy.measure.processes import ProcessWorker, UnavailableWorker, WorkerError
from tvdeploy.tasks import classification

RULE = BlockRule(min_iters=5, max_iters=5, min_time_s=0.001, max_time_s=10.0, max_reruns=0)


class VirtualMachine:
    """A clock that advances with the work done, and a machine that slows down by ``drift`` over
    ``duration_s`` of work (thermal throttling, a noisy neighbour)."""

    def __init__(self, drift: float, duration_s: float):
        self.now = 0.0
        self.drift = drift
        self.duration_s = duration_s
        self.busy: list[str] = []

    def slowdown(self) -> float:
        return 1.0 + self.drift * min(self.now / self.duration_s, 1.0)


class FakeWorker:
    def __init__(self, name: str, base_ms: float, machine: VirtualMachine, fail_at_block: int | None = None):
        self.name, self.base_ms, self.machine, self.fail_at_block = name, base_ms, machine, fail_at_block
        self.blocks_run = 0
        self.closed = False

    def start(self):
        return {"threads": 2}

    def warmup(self, iters, max_time_s):
        return {"iters": iters, "seconds": 0.0}

    def block(self, rule):
        assert self.machine.busy == [], f"{self.name} timed while {self.machine.busy} was timing"
        self.machine.busy.append(self.name)
        if self.fail_at_block is not None and self.blocks_run == self.fail_at_block:
            self.machine.busy.clear()
            raise WorkerError(f"{self.name} worker for toy: exited unexpectedly (exit status -11)")
        latencies = []
        for _ in range(rule.min_iters):
            latency = self.base_ms * self.machine.slowdown()
            self.machine.now += latency / 1000
            latencies.append(latency)
        self.blocks_run += 1
        self.machine.busy.clear()
        return {"latencies_ms": latencies, "stop_reason": "min_reached"}

    def close(self):
        self.closed = True


def round_medians(result):
    return {b["round"]: float(np.median(b["latencies_ms"])) for b in result.blocks}


def test_order_is_shuffled_per_round_and_never_overlaps():
    machine = VirtualMachine(0.0, 1.0)
    workers = {n: FakeWorker(n, 10.0, machine) for n in ("a", "b", "c", "d")}
    results, schedule = run_interleaved(workers, rounds=12, rule=RULE, warmup_iters=1, warmup_max_time_s=1, seed=3)
    orders = [tuple(s["worker"] for s in schedule if s["round"] == r) for r in range(12)]
    assert all(sorted(o) == ["a", "b", "c", "d"] for o in orders)  # every worker once per round
    assert len(set(orders)) > 6  # freshly shuffled, not one fixed order
    assert all(len(results[n].blocks) == 12 for n in workers) and all(w.closed for w in workers.values())


def test_interleaving_cancels_drift_that_biases_a_sequential_run():
    rounds, speed_ratio = 20, 1.25
    machine = VirtualMachine(drift=0.30, duration_s=rounds * 5 * (10 + 12.5) / 1000)
    workers = {"slow": FakeWorker("slow", 12.5, machine), "fast": FakeWorker("fast", 10.0, machine)}
    results, _ = run_interleaved(workers, rounds=rounds, rule=RULE, warmup_iters=0, warmup_max_time_s=1, seed=0)
    slow, fast = round_medians(results["slow"]), round_medians(results["fast"])
    est = paired_ratio([slow[r] for r in range(rounds)], [fast[r] for r in range(rounds)])
    assert est.ratio == pytest.approx(speed_ratio, rel=0.02)
    assert est.ci_low <= speed_ratio * 1.02 and est.ci_high >= speed_ratio * 0.98

    # The same machine measured one runtime after the other: the drift lands on the second one.
    machine = VirtualMachine(drift=0.30, duration_s=rounds * 5 * (10 + 12.5) / 1000)
    first = FakeWorker("slow", 12.5, machine)
    slow_seq = [x for _ in range(rounds) for x in first.block(RULE)["latencies_ms"]]
    second = FakeWorker("fast", 10.0, machine)
    fast_seq = [x for _ in range(rounds) for x in second.block(RULE)["latencies_ms"]]
    assert abs(sequential_ratio(slow_seq, fast_seq) / speed_ratio - 1) > 0.05


def test_a_worker_that_crashes_is_recorded_and_the_others_go_on():
    machine = VirtualMachine(0.0, 1.0)
    workers = {
        "eager/plain": FakeWorker("eager/plain", 10.0, machine),
        "ts-cpp/plain": FakeWorker("ts-cpp/plain", 8.0, machine, fail_at_block=2),
    }
    results, _ = run_interleaved(workers, rounds=5, rule=RULE, warmup_iters=0, warmup_max_time_s=1)
    assert "ts-cpp/plain worker for toy" in results["ts-cpp/plain"].error
    assert len(results["ts-cpp/plain"].blocks) == 2 and len(results["eager/plain"].blocks) == 5
    assert results["eager/plain"].error is None


def test_a_deployment_without_a_built_artifact_is_recorded_as_not_started_and_the_others_are_measured():
    machine = VirtualMachine(0.0, 1.0)
    reason = "the aoti artifact was not built (export error): GuardOnDataDependentSymNode"
    workers = {
        "eager/plain": FakeWorker("eager/plain", 10.0, machine),
        "aoti-cpp/plain": UnavailableWorker("aoti-cpp/plain", "toy", reason),
        "ts-cpp/plain": FakeWorker("ts-cpp/plain", 8.0, machine),
    }
    results, schedule = run_interleaved(
        workers, rounds=3, rule=RULE, warmup_iters=0, warmup_max_time_s=1, pairs=[("ts-cpp/plain", "eager/plain")]
    )
    assert results["aoti-cpp/plain"].error == f"aoti-cpp/plain worker for toy: not started: {reason}"
    assert results["aoti-cpp/plain"].blocks == []
    assert {row["worker"] for row in schedule} == {"eager/plain", "ts-cpp/plain"}
    assert len(results["eager/plain"].blocks) == len(results["ts-cpp/plain"].blocks) == 3


def test_a_noisy_block_is_rerun_then_flagged():
    class Noisy(FakeWorker):
        def block(self, rule):
            self.blocks_run += 1
            return {"latencies_ms": [10, 10, 30, 30, 10], "stop_reason": "min_reached"}

    worker = Noisy("n", 10.0, VirtualMachine(0, 1))
    rule = BlockRule(min_iters=5, max_iters=5, min_time_s=0.001, max_time_s=1, max_reruns=2)
    results, schedule = run_interleaved({"n": worker}, rounds=1, rule=rule, warmup_iters=0, warmup_max_time_s=1)
    assert worker.blocks_run == 3 and [s["attempt"] for s in schedule] == [0, 1, 2]
    assert results["n"].blocks == [
        {"group": 0, "launch": 0, "round": 0, "attempt": 2, "latencies_ms": [10, 10, 30, 30, 10],
         "stop_reason": "min_reached", "iqr_over_median": 2.0, "noisy": True, "disturbed": False}
    ]  # fmt: skip


def test_rounds_are_split_over_fresh_launches_of_every_worker():
    class Counting(FakeWorker):
        starts = 0

        def start(self):
            self.starts += 1
            self.closed = False
            return {"threads": 2, "launch": self.starts}

    machine = VirtualMachine(0.0, 1.0)
    workers = {n: Counting(n, 10.0, machine) for n in ("a", "b")}
    results, schedule = run_interleaved(workers, rounds=5, rule=RULE, warmup_iters=0, warmup_max_time_s=1, launches=2)
    assert all(w.starts == 2 and w.closed for w in workers.values())
    assert [b["launch"] for b in results["a"].blocks] == [0, 0, 1, 1, 1]
    assert [b["round"] for b in results["a"].blocks] == [0, 1, 2, 3, 4]
    assert results["a"].ready == {"threads": 2, "launch": 1}  # the first launch's description
    assert {(s["launch"], s["round"]) for s in schedule} == {(0, 0), (0, 1), (1, 2), (1, 3), (1, 4)}
    with pytest.raises(ValueError, match="launches \\(3\\) <= rounds \\(2\\)"):
        run_interleaved(workers, rounds=2, rule=RULE, warmup_iters=0, warmup_max_time_s=1, launches=3)


# ---- real worker processes ------------------------------------------------------------------


@pytest.fixture
def toy_artifacts(tmp_path):
    from tvdeploy.inputs.dat import write_dat

    module = torch.jit.script(linear_classifier(3 * 8 * 8))
    model = tmp_path / "toy.pt"
    module.save(str(model))
    dat = tmp_path / "x.dat"
    write_dat(torch.rand(1, 3, 8, 8), dat, "NCHW", {"spec_id": "toy"})
    return model, dat


def python_worker(model, dat, log, runtime="ts-python"):
    command = [sys.executable, "-m", "tvdeploy.measure.worker", "--runtime", runtime, "--variant", "plain",
               "--model", "toy", "--artifact", str(model), "--input", str(dat), "--threads", "2",
               "--interop-threads", "1"]  # fmt: skip
    return ProcessWorker(f"{runtime}/plain", "toy", command, log=log)


def test_python_worker_serves_blocks_and_idles_without_cpu(toy_artifacts, tmp_path):
    model, dat = toy_artifacts
    with open(tmp_path / "worker.log", "w") as log:
        worker = python_worker(model, dat, log)
        ready = worker.start()
        assert ready["threads"] == 2 and ready["device"] == "cpu"  # both cores: OpenMP threads idle too
        assert ready["first_call_s"] > 0  # the first forward, timed apart from warm-up
        warm = worker.warmup(iters=1000, max_time_s=0.2)
        assert 1 <= warm["iters"] <= 1000 and (warm["iters"] == 1000 or warm["seconds"] >= 0.2)
        block = worker.block(RULE)
        assert len(block["latencies_ms"]) == 5 and block["stop_reason"] == "max_iters"
        idle_cpu_s = idle_cpu_seconds(worker._process.pid, seconds=2.0)
        assert idle_cpu_s < 0.05, f"an idle worker used {idle_cpu_s:.3f} s of CPU in 2 s"
        with pytest.raises(WorkerError, match="reported an error: RequestError"):
            worker.request({"op": "dance"})
        worker.close()


@pytest.mark.parametrize(("runtime", "kind"), [("onnxruntime", "onnx"), ("openvino-python", "openvino")])
def test_peer_runtime_workers_idle_without_cpu(toy_artifacts, tmp_path, runtime, kind):
    """ONNX Runtime's pool spins after a run by default, and OpenVINO's TBB keeps cores busy for
    a while: an idle worker must not steal CPU from the one being timed."""
    from tvdeploy.build.exporters import build_artifact

    _, dat = toy_artifacts
    net = linear_classifier(3 * 8 * 8)
    folder = tmp_path / kind
    assert build_artifact(kind, net, (torch.rand(2, 3, 8, 8),), folder, classification)["status"] == "ok"
    with open(tmp_path / "worker.log", "w") as log:
        worker = python_worker(folder, dat, log, runtime=runtime)
        assert worker.start()["threads"] == 2
        worker.warmup(iters=20, max_time_s=0.5)
        assert len(worker.block(RULE)["latencies_ms"]) == 5
        idle_cpu_s = idle_cpu_seconds(worker._process.pid, seconds=2.0)
        assert idle_cpu_s < 0.05, f"an idle {runtime} worker used {idle_cpu_s:.3f} s of CPU in 2 s"
        worker.close()


def test_worker_that_cannot_load_names_the_runtime_and_model(toy_artifacts, tmp_path):
    _, dat = toy_artifacts
    with open(tmp_path / "worker.log", "w") as log:
        worker = python_worker(tmp_path / "missing.pt", dat, log)
        with pytest.raises(WorkerError, match="ts-python/plain worker for toy: reported an error"):
            worker.start()
        worker.close()
    assert "Traceback" in (tmp_path / "worker.log").read_text()


def test_a_failed_forward_is_answered_short_and_logged_whole(capsys):
    """A TorchScript error can carry the whole graph (megabytes: seen for RAFT's fused variant,
    repeated in every table row of the deployment): the answer keeps its head, the log all of it."""
    import io
    import json

    from tvdeploy.measure.worker import serve
    from tvdeploy.registry.failures import error_text

    graph = "\n".join(f"  %{i} : Tensor = aten::add(%{i - 1}, %{i - 1})" for i in range(1, 100_000))

    def step():
        raise RuntimeError(f"\nSchema not found for node. File a bug report.\nNode: {graph}")

    answers = io.StringIO()
    requests = io.StringIO(json.dumps({"op": "warmup", "iters": 1}) + "\n" + json.dumps({"op": "quit"}) + "\n")
    serve(step, lambda: None, {}, requests, answers)
    ready, failed = (json.loads(line) for line in answers.getvalue().splitlines())
    assert ready["ok"] and not failed["ok"]
    assert failed["error"].startswith("RuntimeError: \nSchema not found for node.")
    assert len(failed["error"]) <= len(error_text(RuntimeError(graph))) < len(graph) / 100
    assert graph.splitlines()[-1] in capsys.readouterr().err


def test_warmup_is_bounded_by_iterations_and_by_time():
    from tvdeploy.measure.bench import warm_up

    calls = []
    clock = iter(range(100)).__next__  # one "second" per clock read
    result = warm_up(lambda: calls.append(1), lambda: None, iters=50, max_time_s=3, clock=clock)
    assert result["iters"] == len(calls) == 3  # stopped by time, not after 50
    calls.clear()
    assert warm_up(lambda: calls.append(1), lambda: None, iters=4)["iters"] == len(calls) == 4
