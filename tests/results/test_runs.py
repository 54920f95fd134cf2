"""Runs: each machine's measurements in its own folder, other runs found and read, never redone;
results from before run folders migrated (tvdeploy.results.runs, Plan's run methods)."""

import copy
import os

import pytest
import yaml
from conftest import REPO_ROOT

from tvdeploy.plan import ConfigError, Plan
from tvdeploy.registry import paths
from tvdeploy.results import runs

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())


def plan(**overrides):
    config = copy.deepcopy(DEFAULT)
    config.update({"models": ["resnet18"], "devices": ["cpu"], **overrides})
    return Plan.from_config(config, REPO_ROOT, has_gpu=lambda: False)


def touch(root, relative):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path


def test_the_label_is_the_configured_one_or_the_short_host_name():
    assert runs.run_label("laptop") == "laptop"
    assert runs.run_label("", hostname="gpu01.cluster.example.org") == "gpu01"
    assert plan(run="ws-7").run == "ws-7"
    # A cluster job re-reads the workflow on its node: it must land in the submitting host's run.
    assert runs.default_host({"SLURM_SUBMIT_HOST": "login01.hpc.example.org"}) == "login01.hpc.example.org"
    with pytest.raises(runs.RunLabelError, match="letters, digits"):
        runs.run_label("../elsewhere")
    with pytest.raises(ConfigError, match="run label"):
        plan(run="two words")


def test_this_runs_measurements_go_to_its_folder():
    p = plan(run="laptop")
    assert p.comparison_files() == ["results/runs/laptop/compare/cpu/b1/resnet18.json"]
    assert p.overhead_files()[0].startswith("results/runs/laptop/overhead/cpu/")
    assert p.here(paths.COMPARISON) == "results/runs/laptop/compare/{device}/b{batch}/{model}.json"


def test_other_runs_are_found_with_their_wildcards(tmp_path):
    touch(tmp_path, "results/runs/laptop/compare/cpu/b1/resnet18.json")
    touch(tmp_path, "results/runs/gpu01/compare/cuda/b1/resnet18.json")
    touch(tmp_path, "results/runs/gpu01/compare/cuda/b8/vit_b_16.json")
    touch(tmp_path, "results/runs/gpu01/predictions/cuda/ts-cpp/plain/resnet18.json")
    touch(tmp_path, "results/runs/gpu01/compare/cuda/b1/notes.txt")  # not a result
    # A segmentation record's mask and its sidecar, beside the record: not records themselves.
    touch(tmp_path, "results/runs/gpu01/predictions/cuda/ts-cpp/plain/lraspp_mobilenet_v3_large.0.mask.json")
    touch(tmp_path, "results/runs/gpu01/predictions/cuda/ts-cpp/plain/lraspp_mobilenet_v3_large.0.mask.dat")
    touch(tmp_path, "results/runs/not a label/compare/cpu/b1/resnet18.json")
    p = plan(run="laptop")
    assert p.other_runs(tmp_path) == ["gpu01"]
    found = p.other_measurements(tmp_path)
    assert [(i["device"], i["batch"], i["model"]) for i in found["comparisons"]] == [
        ("cuda", "1", "resnet18"),
        ("cuda", "8", "vit_b_16"),
    ]
    assert found["predictions"] == [
        {
            "run": "gpu01",
            "device": "cuda",
            "runtime": "ts-cpp",
            "variant": "plain",
            "model": "resnet18",
            "path": "results/runs/gpu01/predictions/cuda/ts-cpp/plain/resnet18.json",
        }
    ]
    assert p.run_devices_batches(tmp_path) == {("laptop", "cpu"): [1], ("gpu01", "cuda"): [1, 8]}
    plots = p.plot_files(tmp_path)
    assert "results/plots/gpu01/cuda/b8/latency.png" in plots
    assert "results/plots/laptop/cpu/deployability.png" in plots
    assert "results/plots/runs_b1.png" in plots and "results/plots/runs_b8.png" in plots


def test_one_run_alone_has_no_side_by_side_figure(tmp_path):
    assert not any("runs_b" in f for f in plan(run="laptop").plot_files(tmp_path))


def test_results_from_before_run_folders_move_with_their_times(tmp_path):
    old = touch(tmp_path, "results/compare/cpu/b1/resnet18.json")
    os.utime(old, (1_000_000, 1_000_000))
    touch(tmp_path, "results/parity/cpu/resnet18.json")
    touch(tmp_path, "results/tables/latency.csv")  # tables are rebuilt, not moved
    moves = runs.migrate("laptop", tmp_path)
    assert [m[1].relative_to(tmp_path).as_posix() for m in moves] == [
        "results/runs/laptop/compare",
        "results/runs/laptop/parity",
    ]
    moved = tmp_path / "results/runs/laptop/compare/cpu/b1/resnet18.json"
    assert moved.stat().st_mtime == 1_000_000 and not old.exists()
    assert (tmp_path / "results/tables/latency.csv").exists()
    assert runs.migrate("laptop", tmp_path) == []  # nothing left to move
    touch(tmp_path, "results/compare/cpu/b1/resnet50.json")
    with pytest.raises(FileExistsError, match="choose another run label"):
        runs.migrate("laptop", tmp_path)


def test_make_merge_rebuilds_with_exactly_the_table_and_figure_rules():
    """make merge allows the rules that measure nothing, defined once (plan.targets.REPORT_RULES):
    aggregate and every rule of report.smk, which also run on the submitting host of a cluster."""
    import re

    from tvdeploy.plan.targets import LOCAL_RULES, REPORT_RULES

    assert "REPORT_RULES" in (REPO_ROOT / "Makefile").read_text()
    report_rules = re.findall(
        r"^(?:rule (\w+):|use rule \w+ as (\w+) with:)", (REPO_ROOT / "workflow/rules/report.smk").read_text(), re.M
    )
    report_names = {a or b for a, b in report_rules}
    assert set(REPORT_RULES) == {"aggregate"} | report_names
    assert set(REPORT_RULES) <= set(LOCAL_RULES) and report_names <= set(LOCAL_RULES)
