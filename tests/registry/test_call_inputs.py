"""Naming the input files of a model call (tvdeploy.registry.paths: one place for every task)
and recognising failures reported upstream (tvdeploy.registry.failures)."""

import pytest

from tvdeploy.registry import paths
from tvdeploy.registry.failures import EXPORT_ERROR, failure_fields, upstream_issues
from tvdeploy.registry.tasks import CLASSIFICATION, OPTICAL_FLOW, TASKS

PAIR_NAMES = TASKS[OPTICAL_FLOW].input_names
ONE_NAME = TASKS[CLASSIFICATION].input_names


def test_a_one_input_task_keeps_its_dat_names_and_a_pair_names_each_argument():
    assert paths.input_dats("s", "cat", ONE_NAME) == [paths.INPUT_DAT.format(spec="s", image="cat")]
    assert paths.input_dats("s", "pan", PAIR_NAMES) == [
        "results/inputs/s/pan.image1.dat",
        "results/inputs/s/pan.image2.dat",
    ]
    assert paths.call_input_stem("pan.image2", PAIR_NAMES) == ("pan", "image2")
    assert paths.call_input_stem("a.b", ONE_NAME) == ("a.b", "input")
    with pytest.raises(ValueError, match="does not name a model input"):
        paths.call_input_stem("pan", PAIR_NAMES)
    with pytest.raises(ValueError, match="not one of the task's inputs"):
        paths.input_stem("pan", "image3", PAIR_NAMES)


def test_calls_are_grouped_in_argument_order_and_a_misplaced_file_is_named():
    files = ["d/a.image1.dat", "d/a.image2.dat", "d/b.image1.dat", "d/b.image2.dat"]
    assert paths.group_call_inputs(files, PAIR_NAMES) == [("a", files[:2]), ("b", files[2:])]
    assert paths.group_call_inputs(["x/cat.dat"], ONE_NAME) == [("cat", ["x/cat.dat"])]
    with pytest.raises(ValueError, match="d/a.image2.dat is argument 'image2' of 'a'"):
        paths.group_call_inputs(files[1::-1], PAIR_NAMES)
    with pytest.raises(ValueError, match="d/b.image2.dat is argument 'image2' of 'b'.*argument 'image2' of 'a'"):
        paths.group_call_inputs([files[0], files[3]], PAIR_NAMES)
    with pytest.raises(ValueError, match="3 input files do not make calls of 2"):
        paths.group_call_inputs(files[:3], PAIR_NAMES)


def test_a_known_upstream_failure_names_its_issues_and_others_name_none():
    guard = (
        "Constraints violated (batch)! - Not all values of batch = L['image1'].size()[0] in the specified range "
        "batch <= 1024 satisfy the generated guard (((-1) + 3*L['image1'].size()[0]) // L['image1'].size()[0]) == 2."
    )
    assert upstream_issues(guard) == ["pytorch#155550", "vision#8116"]
    fields = failure_fields(RuntimeError(guard), EXPORT_ERROR)
    assert fields["upstream"] == ["pytorch#155550", "vision#8116"] and fields["error_class"] == EXPORT_ERROR
    assert "upstream" not in failure_fields(RuntimeError("Unsupported: aten::foo"), EXPORT_ERROR)
    # The build's error passed on (a runtime that cannot load the artifact) names the issues once.
    passed_on = failure_fields(RuntimeError(fields["error"]), EXPORT_ERROR)["error"]
    assert passed_on.count("[known upstream:") == 1 and passed_on.endswith("vision#8116]")


def test_an_upstream_failure_is_named_from_its_whole_message_beyond_the_tables_limit():
    # SSD's guard: an expression of 90 terms, twice (hinted and not), before the frame naming batched_nms.
    terms = " + ".join(f"4*Min(300, u{i})" for i in range(180))
    guard = (
        f"Could not guard on data-dependent expression {terms} > 4000\n\n"
        "Caused by: (torchvision/ops/boxes.py:86 in batched_nms)"
    )
    fields = failure_fields(RuntimeError(guard), EXPORT_ERROR)
    assert fields["error"].endswith("(truncated) [known upstream: vision#9306, vision#9462, pytorch#118884]")
    assert fields["upstream"] == ["vision#9306", "vision#9462", "pytorch#118884"]
