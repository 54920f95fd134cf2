"""Each model's jobs before the next model's (tvdeploy.plan.model_order), so that with
export.keep_artifacts false a whole-catalog run holds few models' artifacts at once: the priorities
the real Snakefile gives its jobs, and what Snakemake's scheduler does with them on a small
workflow of the same shape (exports into temp files, a comparison that claims every core)."""

import re
import subprocess
import sys
import textwrap

import pytest
from workflow_helpers import copy_workflow, scenario_config

SCENARIO = scenario_config("model_order")
MODELS = SCENARIO["models"]


def dry_run_jobs(workdir):
    """(rule, wildcards, priority) of every job a dry run of the real Snakefile plans."""
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--configfile", "config/model_order.yaml"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    jobs = []
    for block in re.split(r"^(?:local)?rule ", done.stdout, flags=re.M)[1:]:
        rule = block.split(":", 1)[0]
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        priority = re.search(r"^\s+priority: (\d+)$", block, re.M)
        fields = dict(kv.split("=", 1) for kv in wildcards.group(1).split(", ")) if wildcards else {}
        jobs.append((rule, fields, int(priority.group(1)) if priority else 0))
    return jobs


def test_every_job_of_a_model_ranks_above_the_next_models(tmp_path):
    workdir = copy_workflow(tmp_path, "model_order")
    jobs = dry_run_jobs(workdir)
    by_model = {}
    for rule, wildcards, priority in jobs:
        if "model" in wildcards:
            by_model.setdefault(wildcards["model"], set()).add((rule, priority))
    assert list(by_model) and set(by_model) == set(MODELS)
    # Every job of a model, its exports and its comparison included, shares the model's rank.
    ranks = {m: {p for _, p in rules} for m, rules in by_model.items()}
    assert [ranks[m] for m in MODELS] == [{3}, {2}, {1}], ranks
    assert {"export_torchscript", "export_onnx", "convert_openvino", "compare", "infer_python", "check_parity"} <= {
        rule for rule, _ in by_model[MODELS[0]]
    }
    shared = {rule: p for rule, w, p in jobs if rule in ("build_cpp", "preprocess_image")}
    assert set(shared) == {"build_cpp", "preprocess_image"} and set(shared.values()) == {4}
    tables = {rule: p for rule, w, p in jobs if rule in ("aggregate", "summary", "harness_overhead")}
    assert set(tables) == {"aggregate", "summary", "harness_overhead"} and set(tables.values()) == {0}


# Four models, three exports each into temp files, of staggered lengths; the comparison reads the
# three and claims every core, like rule compare. Each job appends when it started and ended.
TOY_SNAKEFILE = textwrap.dedent(
    """
    from tvdeploy.plan.model_order import ModelOrder, schedule_in_priority_order

    if config["in_order"]:
        schedule_in_priority_order()
    ORDER = ModelOrder(("m1", "m2", "m3", "m4"))
    SECONDS = {"a": 0.4, "b": 0.7, "c": 1.0}

    rule all:
        input: expand("compare/{model}.txt", model=ORDER.models)

    rule export:
        output: temp("artifacts/{model}.{kind}")
        priority: lambda wildcards: ORDER.priority(wildcards.model)
        params: seconds=lambda wildcards: SECONDS[wildcards.kind]
        shell: "echo $(date +%s.%N) start {wildcards.model} >> events; sleep {params.seconds}; touch {output}"

    rule compare:
        input: expand("artifacts/{{model}}.{kind}", kind=SECONDS)
        output: "compare/{model}.txt"
        priority: lambda wildcards: ORDER.priority(wildcards.model)
        threads: workflow.cores
        shell: "sleep 0.3; touch {output}; echo $(date +%s.%N) compared {wildcards.model} >> events"
    """
)


def run_toy(workdir, in_order, *args):
    (workdir / "Snakefile").write_text(TOY_SNAKEFILE)
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--scheduler", "greedy", *args]
    command += ["--config", f"in_order={in_order}"]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def most_models_holding_artifacts(events_file):
    """The most models whose artifacts existed at once: from their first export's start until
    their comparison ended (temp files go right after their last reader)."""
    events = sorted((float(t), what, model) for t, what, model in (line.split() for line in events_file.open()))
    holding, most = set(), 0
    for _, what, model in events:
        if what == "start":
            holding.add(model)
        else:
            holding.discard(model)
        most = max(most, len(holding))
    return most, [(what, model) for _, what, model in events]


@pytest.mark.slow
def test_snakemake_measures_each_model_before_the_next_ones_pile_up(tmp_path):
    """About 25 s: the same toy workflow with priorities alone, then in priority order."""
    stock = tmp_path / "stock"
    stock.mkdir()
    run_toy(stock, False)
    most, order = most_models_holding_artifacts(stock / "events")
    # Priorities alone: every comparison waits for a moment with both cores free, which never
    # comes while another export is ready, so every model's artifacts pile up.
    assert most == 4 and [w for w, _ in order[-4:]] == ["compared"] * 4, order

    ordered = tmp_path / "ordered"
    ordered.mkdir()
    run_toy(ordered, True)
    most, order = most_models_holding_artifacts(ordered / "events")
    assert most <= 2, order
    assert [m for w, m in order if w == "compared"] == ["m1", "m2", "m3", "m4"]
    # Resumed after model 2's comparison: the deleted artifacts of models 1 and 2 are not rebuilt.
    for model in ("m3", "m4"):
        (ordered / "compare" / f"{model}.txt").unlink()
    planned = run_toy(ordered, True, "-n").stdout
    assert set(re.findall(r"wildcards: model=(\w+)", planned)) == {"m3", "m4"}, planned
