"""The regular expressions the rules' wildcards are constrained to: the registry's names, the
run's images, and the shapes of the other values. A plain pattern keeps building the DAG fast
where a full list would be long (models are checked against the catalog when a job needs one)."""

from __future__ import annotations

import re

from tvdeploy.registry import DEVICES, RUNTIMES, VARIANTS, paths
from tvdeploy.registry import runtimes_in as registry_runtimes_in
from tvdeploy.results import runs

# The preprocessing spec id's shape (tvdeploy.catalog.sheet.preprocess_spec_id).
SPEC_PATTERN = r"(r\d+(x\d+)?|full)_(c\d+|nocrop)(_t\d+)?(_[a-z]+)?_[a-z0-9]+(_noaa)?"
# Names are checked against the catalog by Plan.model(); a plain pattern keeps DAG building fast.
MODEL_PATTERN = paths.MODEL_PATTERN


def alternation(names) -> str:
    """A regular expression matching exactly one of ``names``."""
    return "|".join(re.escape(n) for n in names)


def wildcard_constraints(images) -> dict[str, str]:
    """Every wildcard's constraint, ``images`` being the run's image stems."""
    return {
        "model": MODEL_PATTERN,
        "image": alternation(images),
        "spec": SPEC_PATTERN,
        "device": alternation(DEVICES),
        "runtime": alternation(RUNTIMES),
        "variant": alternation(VARIANTS),
        "batch": r"\d+",
        "run": runs.LABEL.pattern.strip("^$"),
    }


def runtimes_in(language: str) -> str:
    """The runtimes whose harness is in ``language``."""
    return alternation(registry_runtimes_in(language))
