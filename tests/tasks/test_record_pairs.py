"""Pairing two prediction records' results input by input (every task's compare_predictions)."""

import pytest

from tvdeploy.tasks.record_pairs import paired_results


def record(*entries):
    return {"results": [{"input": f"/runs/{name}.dat", "row": row, "value": value} for name, row, value in entries]}


def test_results_pair_by_input_name_and_row_whatever_their_order_and_folder():
    reference = record(("cat", 0, 1), ("cat", 1, 2), ("cup", 0, 3))
    candidate = record(("cup", 0, 30), ("cat", 1, 20), ("cat", 0, 10))
    pairs = paired_results(reference, candidate)
    assert [(name, ref["value"], cand["value"]) for name, ref, cand in pairs] == [
        ("cup", 3, 30),
        ("cat", 2, 20),
        ("cat", 1, 10),
    ]


def test_an_input_the_reference_lacks_and_a_missing_one_are_refused():
    reference = record(("cat", 0, 1), ("cup", 0, 3))
    with pytest.raises(KeyError, match="reference predictions lack pair rocket"):
        paired_results(reference, record(("rocket", 0, 1)), what="pair")
    with pytest.raises(ValueError, match="candidate has 1 results, reference 2"):
        paired_results(reference, record(("cat", 0, 1)))
