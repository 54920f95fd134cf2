"""The results of two prediction records paired input by input, for every task adapter's
``compare_predictions`` (kept out of ``tvdeploy.tasks`` itself, which the catalog imports: naming
an input reads ``tvdeploy.inputs``)."""

from __future__ import annotations

from collections.abc import Callable

from tvdeploy.inputs import input_name


def image_key(entry: dict) -> tuple[str, int]:
    """A prediction entry's input (its file's name) and row."""
    return input_name(entry["input"]), entry.get("row", 0)


def paired_results(
    reference: dict, candidate: dict, key: Callable[[dict], tuple[str, int]] = image_key, what: str = "image"
) -> list[tuple[str, dict, dict]]:
    """Each of the candidate record's results with the reference's of the same input and row
    (``key``): (input name, reference entry, candidate entry), what every task's
    compare_predictions compares. KeyError for an input the reference lacks, ValueError when the
    candidate lacks some of the reference's (``what`` names an input in the messages)."""
    by_key = {key(entry): entry for entry in reference["results"]}
    pairs = []
    for entry in candidate["results"]:
        name, row = key(entry)
        if (name, row) not in by_key:
            raise KeyError(f"reference predictions lack {what} {name} (row {row})")
        pairs.append((name, by_key[name, row], entry))
    if len(pairs) != len(by_key):
        raise ValueError(f"candidate has {len(pairs)} results, reference {len(by_key)}")
    return pairs
