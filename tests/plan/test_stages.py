"""Every rule of the workflow is declared once with its stage (plan.targets.RULE_STAGES), which
splits a run's wall time: a new rule without a stage fails here."""

import re

from conftest import REPO_ROOT

from tvdeploy.plan.targets import RULE_STAGES, STAGES

WORKFLOW_FILES = [REPO_ROOT / "Snakefile", *sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))]
# The default target only gathers the others' outputs: no job of its own runs.
TARGET_RULE = "all"


def workflow_rules():
    found = [
        a or b
        for path in WORKFLOW_FILES
        for a, b in re.findall(r"^(?:rule (\w+):|use rule \w+ as (\w+) with:)", path.read_text(), re.M)
    ]
    assert len(found) == len(set(found)), found
    return set(found)


def test_every_rule_of_the_workflow_has_a_stage_and_no_stage_names_a_missing_rule():
    rules = workflow_rules()
    assert TARGET_RULE in rules and "compare" in rules and "plot_runs" in rules
    assert set(RULE_STAGES) == rules - {TARGET_RULE}
    assert set(RULE_STAGES.values()) == set(STAGES)
