"""The Python runtimes' inference process (tvdeploy.predict.infer): predictions written by the child, a
Python error recorded by it, a crash recorded by the parent, a refusal failing the job."""

import json
import sys

import pytest

from tvdeploy.predict import infer
from tvdeploy.registry import CLASSIFICATION
from tvdeploy.registry.failures import CRASHED, LOAD_ERROR

IDENTITY = {"runtime": "ts-python", "variant": "plain", "model": "tiny", "device": "cpu"}


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_process_killed_by_a_signal_is_recorded_as_crashed(tmp_path):
    output = tmp_path / "prediction.json"
    infer.run(_python("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"), output, IDENTITY)
    record = json.loads(output.read_text())
    assert record == {
        "program": "infer_python",
        **IDENTITY,
        "results": [],
        "error": "InferenceCrashed: the inference process died with SIGSEGV (exit status -11)",
        "error_class": CRASHED,
    }


def test_a_process_that_refuses_fails_the_job_and_writes_nothing(tmp_path):
    output = tmp_path / "prediction.json"
    with pytest.raises(RuntimeError, match="refused the job .exit status 3"):
        infer.run(_python("raise SystemExit(3)"), output, IDENTITY)
    assert not output.exists()


def test_the_childs_own_record_is_kept(tmp_path):
    output = tmp_path / "prediction.json"
    infer.run(_python(f"open({str(output)!r}, 'w').write('{{\"results\": [1]}}')"), output, IDENTITY)
    assert json.loads(output.read_text()) == {"results": [1]}


def test_the_child_predicts_with_a_python_runtime(tmp_path, toy_model, toy_labels, bench_input):
    from toy_models import NUM_CLASSES

    path, _ = toy_model
    output = tmp_path / "prediction.json"
    argv = infer.command(
        CLASSIFICATION,
        "ts-python",
        "plain",
        "tiny",
        path,
        toy_labels,
        [bench_input],
        "cpu",
        topk=3,
        threads=1,
        output=output,
    )
    infer.run(argv, output, IDENTITY)
    record = json.loads(output.read_text())
    assert record["error"] is None and record["threads"] == 1
    (result,) = record["results"]
    assert len(result["logits"]) == NUM_CLASSES and [t["rank"] for t in result["topk"]] == [1, 2, 3]


def test_the_child_records_a_model_it_cannot_load(tmp_path, toy_labels, bench_input):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a TorchScript archive")
    output = tmp_path / "prediction.json"
    argv = infer.command(
        CLASSIFICATION, "ts-python", "plain", "tiny", broken, toy_labels, [bench_input], "cpu", 5, 1, output
    )
    infer.run(argv, output, IDENTITY)
    record = json.loads(output.read_text())
    assert record["results"] == [] and record["error_class"] == LOAD_ERROR and record["error"]
