"""The benchmark's heap settings (tvdeploy.harnesses.allocator): the worker environment, what a
process reports it runs under, and that glibc really applies them in a child process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest
import torch
from toy_models import linear_classifier

from tvdeploy.harnesses.allocator import (
    GLIBC_TUNABLES,
    MMAP_THRESHOLD_BYTES,
    TRIM_THRESHOLD_BYTES,
    allocator_settings,
    benchmark_allocator,
    benchmark_environment,
    glibc_default_environment,
)

OURS = f"glibc.malloc.mmap_threshold={MMAP_THRESHOLD_BYTES}:glibc.malloc.trim_threshold={TRIM_THRESHOLD_BYTES}"
DEFAULTS = {"library": "glibc", "mmap_threshold_bytes": None, "trim_threshold_bytes": None, "via": "defaults"}
needs_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the settings are glibc's")


def test_the_settings_are_the_ones_the_cpp_bench_was_tuned_with():
    assert benchmark_allocator() == {
        "library": "glibc",
        "mmap_threshold_bytes": 32 << 20,
        "trim_threshold_bytes": 1 << 30,
        "via": "GLIBC_TUNABLES",
    }


def test_benchmark_environment_adds_the_tunables_and_keeps_everything_else():
    base = {"PATH": "/bin", GLIBC_TUNABLES: "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096"}
    environment = benchmark_environment(base)
    assert environment["PATH"] == "/bin"
    # Another tunable kept, the benchmark's own value replacing the one base gave.
    assert environment[GLIBC_TUNABLES] == "glibc.malloc.arena_max=2:" + OURS
    assert base[GLIBC_TUNABLES] == "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=4096"  # not mutated
    assert benchmark_environment(environment) == environment
    assert benchmark_environment({}) == {GLIBC_TUNABLES: OURS}


def test_glibc_default_environment_drops_only_the_benchmark_tunables():
    assert glibc_default_environment({"PATH": "/bin", GLIBC_TUNABLES: OURS}) == {"PATH": "/bin"}
    tuned = benchmark_environment({GLIBC_TUNABLES: "glibc.malloc.arena_max=2"})
    assert glibc_default_environment(tuned) == {GLIBC_TUNABLES: "glibc.malloc.arena_max=2"}


@needs_glibc
def test_a_process_reports_what_its_environment_asks_glibc_for():
    assert allocator_settings(benchmark_environment({"PATH": "/bin"})) == benchmark_allocator()
    assert allocator_settings({}) == allocator_settings({GLIBC_TUNABLES: "glibc.malloc.arena_max=2"}) == DEFAULTS
    # Read as glibc reads them: the last of a name counts; hex and octal; text it ignores shown as given.
    odd_tunables = "glibc.malloc.trim_threshold=1:glibc.malloc.trim_threshold=0x10:glibc.malloc.mmap_threshold=010"
    odd = allocator_settings({GLIBC_TUNABLES: odd_tunables})
    assert (odd["mmap_threshold_bytes"], odd["trim_threshold_bytes"], odd["via"]) == (8, 16, GLIBC_TUNABLES)
    assert allocator_settings({GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=32M"})["mmap_threshold_bytes"] == "32M"


# What the settings change: a forward's activations, many large blocks alive at once, freed at
# its end. Under glibc's defaults each round faults all their pages in again (the top of the
# heap is trimmed past twice the dynamic threshold); under the settings only the first does.
# (One block alone would not show it: glibc's dynamic threshold already keeps it after round 2.)
FAULTS_PER_ROUND = textwrap.dedent(
    """
    import ctypes, json
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def minor_faults():
        with open("/proc/self/stat") as stat:
            return int(stat.read().rpartition(")")[2].split()[7])

    BLOCK, BLOCKS = 8 << 20, 8
    faults = []
    for _ in range(5):
        before = minor_faults()
        blocks = [libc.malloc(BLOCK) for _ in range(BLOCKS)]
        for block in blocks:
            ctypes.memset(block, 1, BLOCK)
        for block in blocks:
            libc.free(block)
        faults.append(minor_faults() - before)
    print(json.dumps({"faults": faults, "pages": BLOCK * BLOCKS // 4096}))
    """
)


def faults_per_round(environment: dict[str, str]) -> tuple[list[int], int]:
    done = subprocess.run(
        [sys.executable, "-c", FAULTS_PER_ROUND], env=environment, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    return result["faults"], result["pages"]


@needs_glibc
@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="counts page faults in /proc")
def test_a_child_started_with_the_benchmark_environment_keeps_its_freed_memory():
    tuned, pages = faults_per_round(benchmark_environment(os.environ))
    default, _ = faults_per_round(glibc_default_environment(os.environ))
    assert tuned[0] >= pages // 2, tuned  # the first round touches fresh memory either way
    assert max(tuned[1:]) < pages // 10, f"freed memory went back to the kernel under the settings: {tuned}"
    # The check tells the two apart: glibc's defaults give the pages back every round.
    assert min(default[1:]) >= pages // 2, f"glibc's defaults kept the freed memory: {default}"


RESTARTS = textwrap.dedent(
    """
    import json, os, sys
    with open(sys.argv[1], "a") as starts:
        starts.write("start\\n")
    from tvdeploy.harnesses.allocator import allocator_settings, restart_under_benchmark_allocator
    restart_under_benchmark_allocator()
    print(json.dumps({"argv": sys.argv[1:], "allocator": allocator_settings(os.environ)}))
    """
)


@needs_glibc
def test_a_script_restarts_itself_once_under_the_settings(tmp_path):
    script, starts = tmp_path / "script.py", tmp_path / "starts.txt"
    script.write_text(RESTARTS)
    done = subprocess.run(
        [sys.executable, str(script), str(starts), "--flag"],
        env=glibc_default_environment(os.environ),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == {"argv": [str(starts), "--flag"], "allocator": benchmark_allocator()}
    assert starts.read_text().splitlines() == ["start", "start"]  # restarted once, not again


@needs_glibc
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_the_python_worker_reports_the_settings_it_runs_under(tmp_path):
    from tvdeploy.harnesses import worker_command
    from tvdeploy.inputs.dat import write_dat
    from tvdeploy.measure.processes import ProcessWorker
    from tvdeploy.registry import CLASSIFICATION

    model, dat = tmp_path / "toy.pt", tmp_path / "x.dat"
    torch.jit.script(linear_classifier(3 * 8 * 8)).save(str(model))
    write_dat(torch.rand(1, 3, 8, 8), dat, "NCHW", {"spec_id": "toy"})
    command = worker_command("ts-python", "plain", "toy", model, dat, "cpu", 1, 1, 1, {}, CLASSIFICATION)
    with open(tmp_path / "worker.log", "w") as log:
        for environment, expected in [
            (benchmark_environment(os.environ), benchmark_allocator()),
            (glibc_default_environment(os.environ), DEFAULTS),
        ]:
            worker = ProcessWorker("ts-python/plain", "toy", command, log=log, env=environment)
            try:
                assert worker.start()["allocator"] == expected
            finally:
                worker.close()
