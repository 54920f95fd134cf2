"""Large prediction outputs are stored as .dat files beside the record, small ones stay JSON."""

import json

import torch

from tvdeploy.inputs.dat import sidecar_path
from tvdeploy.predict.outputs import (
    TensorOutput,
    load_tensor_output,
    resolve_tensor_outputs,
    store_tensor_outputs,
    stored_outputs,
)


def test_tensor_outputs_go_to_dat_files_and_come_back(tmp_path):
    record = tmp_path / "model.json"
    mask = torch.arange(2 * 5 * 7, dtype=torch.float32).reshape(2, 5, 7)
    results = [
        {"input": "a.dat", "row": 0, "logits": [0.5, 1.5], "out": TensorOutput(mask, "CHW")},
        {"input": "b.dat", "row": 0, "logits": [2.5, 3.5], "out": TensorOutput(mask + 1, "CHW")},
    ]
    stored = store_tensor_outputs(results, record)
    # The small field is untouched; the tensor became a reference to its own file.
    assert stored[0]["logits"] == [0.5, 1.5]
    assert stored[1]["out"] == {"dat": "model.1.out.dat", "shape": [2, 5, 7], "layout": "CHW"}
    json.dumps(stored)  # the record is plain JSON now
    assert json.loads(sidecar_path(tmp_path / "model.1.out.dat").read_text())["input"] == "b.dat"
    assert torch.equal(load_tensor_output(record, stored[0]["out"]), mask)
    assert torch.equal(load_tensor_output(record, stored[1]["out"]), mask + 1)


def test_a_record_without_tensor_outputs_writes_no_files(tmp_path):
    results = [{"input": "a.dat", "row": 0, "logits": [1.0], "topk": []}]
    assert store_tensor_outputs(results, tmp_path / "m.json") == results
    assert list(tmp_path.iterdir()) == []


def test_a_record_resolves_to_its_tensors_and_lists_its_files(tmp_path):
    record = tmp_path / "model.json"
    mask = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    stored = store_tensor_outputs([{"input": "a.dat", "row": 0, "mask": TensorOutput(mask, "HW"), "n": 1}], record)
    resolved = resolve_tensor_outputs({"program": "p", "results": stored}, record)
    assert resolved["program"] == "p" and resolved["results"][0]["n"] == 1
    assert torch.equal(resolved["results"][0]["mask"], mask)
    assert stored[0]["mask"]["dat"] == "model.0.mask.dat"  # the stored record is left as it was
    assert stored_outputs(record, {"results": stored}) == [
        tmp_path / "model.0.mask.dat",
        tmp_path / "model.0.mask.json",
    ]
    assert stored_outputs(record, {"results": [{"logits": [1.0]}]}) == []
