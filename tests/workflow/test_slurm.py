"""The workflow on a real single-node SLURM cluster, through the SLURM profile and Snakemake's own
executor plugin: the SLURM scenario (tests/scenarios/slurm.yaml), a job cancelled mid-run and
resumed, and GPU jobs asking for GPUs (on fake GRES GPUs: they then fail with the no-CUDA error,
as they should here).

Needs root and Debian's slurm-wlm + munge; skips otherwise, unless TVDEPLOY_REQUIRE_SLURM is set
(CI sets it: there the skip would hide a broken cluster path).
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from slurm_cluster import SingleNodeSlurm, job_records, unavailable_reason
from workflow_helpers import copy_workflow, scenario_config

pytestmark = pytest.mark.slow

REQUIRE_ENV = "TVDEPLOY_REQUIRE_SLURM"
# A hard limit on every Snakemake invocation: a status check that hangs must fail the test.
RUN_TIMEOUT_S = 1500
CANCEL_POLL_S = 0.5
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)")
SCENARIO = "slurm"
SCENARIO_CONFIG = scenario_config(SCENARIO)
MODELS, RUN = SCENARIO_CONFIG["models"], SCENARIO_CONFIG["run"]
CANCELLED_MODEL = MODELS[0]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV} is set but {reason}")
        pytest.skip(reason)
    with SingleNodeSlurm(tmp_path_factory.mktemp("slurm")) as slurm:
        yield slurm


def slurm_snakemake(workdir, *args):
    # The node's cores are the profile's `cores`; squeue answers status queries (this cluster has
    # no accounting database for sacct) and the first one comes after 1 s instead of 40 s.
    command = [
        sys.executable, "-m", "snakemake", "--workflow-profile", "workflow/profiles/slurm",
        "--cores", str(len(os.sched_getaffinity(0))), "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "1", *args, "--configfile", f"config/{SCENARIO}.yaml",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    done.output = done.stdout + done.stderr
    done.submitted = {int(job): log for job, log in SUBMITTED.findall(done.output)}
    return done


def cancel_when_running(comment_prefix: str, stop: threading.Event, cancelled: list) -> None:
    """scancel the first job whose Comment (the executor writes rule and wildcards there) starts
    with ``comment_prefix`` once it runs."""
    while not stop.is_set():
        for record in job_records():
            if record.get("JobState") == "RUNNING" and record.get("Comment", "").startswith(comment_prefix):
                subprocess.run(["scancel", record["JobId"]], check=True, timeout=30)
                cancelled.append(record)
                return
        time.sleep(CANCEL_POLL_S)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The scenario submitted twice: the first run loses a comparison job to scancel, the second
    resumes."""
    workdir = copy_workflow(tmp_path_factory.mktemp("slurm-e2e"), SCENARIO)
    stop, cancelled = threading.Event(), []
    canceller = threading.Thread(
        target=cancel_when_running, args=(f"rule_compare_wildcards_cpu_1_{CANCELLED_MODEL}", stop, cancelled)
    )
    canceller.start()
    start = time.monotonic()
    try:
        first = slurm_snakemake(workdir)
    finally:
        stop.set()
        canceller.join()
    first_s = time.monotonic() - start
    cancelled_result = workdir / "results" / "runs" / RUN / "compare" / "cpu" / "b1" / f"{CANCELLED_MODEL}.json"
    left_after_cancel = cancelled_result.exists()
    second = slurm_snakemake(workdir)
    print(
        f"SLURM {SCENARIO} run: {first_s:.0f} s with {len(first.submitted)} SLURM jobs, then the resume: "
        f"{time.monotonic() - start - first_s:.0f} s, {len(second.submitted)} SLURM jobs"
    )
    return {
        "workdir": workdir,
        "first": first,
        "second": second,
        "cancelled": cancelled,
        "left_after_cancel": left_after_cancel,
    }


def test_cancelled_job_is_reported_failed_with_its_logs(runs):
    first = runs["first"]
    assert len(runs["cancelled"]) == 1, first.output[-3000:]
    job_id = int(runs["cancelled"][0]["JobId"])
    assert first.returncode != 0
    assert job_id in first.submitted
    slurm_log = first.submitted[job_id]
    assert ".snakemake/slurm_logs/rule_compare/" in slurm_log
    assert "CANCELLED" in first.output and f"results/logs/compare/cpu/b1/{CANCELLED_MODEL}.log" in first.output
    # Nothing half-written: the comparison writes its result atomically.
    assert not runs["left_after_cancel"]


def test_resume_redoes_only_the_cancelled_job(runs):
    second = runs["second"]
    assert second.returncode == 0, second.output[-6000:]
    resubmitted = sorted(log.split("slurm_logs/")[1].split("/")[0] for log in second.submitted.values())
    assert resubmitted == ["rule_compare"], second.submitted


def test_tables_come_out_with_the_allocation_of_each_comparison(runs):
    tables = runs["workdir"] / "results" / "tables"
    latency = pd.read_csv(tables / "latency.csv")
    assert sorted(set(latency["model"])) == sorted(MODELS) and latency["error"].isna().all()
    assert latency["slurm_job"].notna().all() and latency["exclusive_node"].all()
    records = {r["JobId"]: r for r in job_records()}
    for model in MODELS:
        result = json.loads(
            (runs["workdir"] / "results" / "runs" / RUN / "compare" / "cpu" / "b1" / f"{model}.json").read_text()
        )
        allocation = result["allocation"]
        record = records[allocation["job_id"]]
        assert record["Comment"].startswith(f"rule_compare_wildcards_cpu_1_{model}")
        assert allocation["exclusive"] is True and record["OverSubscribe"] == "NO"
        assert allocation["node"] == record["BatchHost"]


def test_cpu_jobs_ask_for_no_gpu_and_small_jobs_travel_in_groups(runs):
    submitted = {**runs["first"].submitted, **runs["second"].submitted}
    records = {int(r["JobId"]): r for r in job_records()}
    mine = [records[job] for job in submitted]
    assert mine and all("gpu" not in r.get("TresPerJob", "") for r in mine)
    comments = [r["Comment"] for r in mine]
    # One export submission for both models, one for all preprocessing, one per device for inference.
    assert sum(c.startswith("rule_models_") for c in comments) == 1
    assert sum(c.startswith("rule_inputs_") for c in comments) == 1
    assert sum(c.startswith("rule_deploy_cpu_") for c in comments) == 1
    assert not any("export_torchscript_wildcards" in c or "preprocess_image_wildcards" in c for c in comments)


def test_cuda_jobs_ask_for_a_gpu_and_fail_clearly_without_cuda(runs):
    workdir = runs["workdir"]
    targets = [
        f"results/runs/{RUN}/predictions/cuda/eager/plain/{MODELS[0]}.json",
        f"results/runs/{RUN}/compare/cuda/b1/{MODELS[0]}.json",
    ]
    done = slurm_snakemake(workdir, *targets, "--config", "devices=[cuda]")
    assert done.returncode != 0
    records = {int(r["JobId"]): r for r in job_records()}
    cuda_jobs = [records[job] for job in done.submitted]
    assert {r["Comment"].split("_cuda")[0] for r in cuda_jobs} == {"rule_deploy", "rule_compare_wildcards"}
    for record in cuda_jobs:
        assert record["TresPerJob"] == "gres:gpu:1", record
        # Inference asks CPUs per GPU; the exclusive comparison CPUs per task (see README).
        exclusive = record["Comment"].startswith("rule_compare")
        assert ("CpusPerTres" in record) != exclusive and (record["OverSubscribe"] == "NO") == exclusive, record
    assert all(r["JobState"] == "FAILED" for r in cuda_jobs)
    log = (workdir / "results" / "logs" / "compare" / "cuda" / "b1" / f"{MODELS[0]}.log").read_text()
    assert "no CUDA device is available" in log
