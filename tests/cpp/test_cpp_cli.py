"""Tests of the command lines of the C++ programs (infer, bench): help, usage errors, accepted choices.

The choices of --device, --transform and --task and bench's protocol options are tied to their one
definition on the Python side (tvdeploy.registry, tvdeploy.measure.bench.Protocol): adding a device, a
load transform, a task or a protocol field on one side only fails here. Every test runs the built
programs, so every test is slow.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch
from cpp_helpers import EXIT_RUNTIME, EXIT_USAGE, infer_args, random_image, run, write_input

from tvdeploy.measure.bench import Protocol
from tvdeploy.registry import CLASSIFICATION, DEVICE_CHOICES, LOAD_TRANSFORMS, QUANTIZED_ENGINES, TASKS, VARIANTS
from tvdeploy.registry.tasks import DETECTION, OPTICAL_FLOW, SEGMENTATION, VIDEO_CLASSIFICATION

# The tests build models with torch.jit.script on purpose: the C++ side loads TorchScript.
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"), pytest.mark.slow]


def test_infer_help(cpp_binaries):
    proc = run(cpp_binaries["infer"], "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: infer")
    for option in ("--model", "--task", "--labels", "--device", "--topk", "--threads", "--output"):
        assert option in proc.stdout


def test_bench_missing_output_and_help(cpp_binaries, toy_model, bench_input):
    model_path, _ = toy_model
    proc = run(cpp_binaries["bench"], "--model", model_path, "--input", bench_input)
    assert proc.returncode == EXIT_USAGE
    assert "--output" in proc.stderr and "usage: bench" in proc.stderr
    proc = run(cpp_binaries["bench"], "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: bench")


def test_unknown_transform_is_a_usage_error(cpp_binaries, toy_model, toy_labels, tmp_path):
    dat = write_input(tmp_path / "x.dat", random_image(0))
    out = tmp_path / "out.json"
    proc = run(cpp_binaries["infer"], *infer_args(toy_model[0], toy_labels, out, dat, extra=("--transform", "fuse")))
    assert proc.returncode == EXIT_USAGE and "--transform" in proc.stderr
    assert not out.exists()


# --------------------------------------------------------- choices from the registry

PROGRAMS = ("infer", "bench")
CHOICE_OPTIONS = {
    "device": DEVICE_CHOICES,
    "transform": LOAD_TRANSFORMS,
    "task": tuple(TASKS),
    # "none": a float model, nothing selected.
    "quantized-engine": ("none", *QUANTIZED_ENGINES),
}
# Options the reports do not record: infer's output is the same whichever task wrote it.
UNRECORDED = {"task"}
DEFAULT = re.compile(r"\(default: (?P<value>[^)]*)\)")


def help_options(binary) -> dict[str, dict[str, str | None]]:
    """Each option that --help documents: {name: {"metavar": ..., "default": ...}}, None where it has none."""
    proc = run(binary, "--help")
    assert proc.returncode == 0, proc.stderr
    # "options:" then per option "  --name METAVAR" and an indented help line ending in "(default: X)".
    _, _, section = proc.stdout.partition("\noptions:\n")
    options = {}
    for block in re.split(r"^  --", section, flags=re.MULTILINE)[1:]:
        head, _, help_text = block.partition("\n")
        name, _, metavar = head.partition(" ")
        default = DEFAULT.search(help_text)
        options[name] = {"metavar": metavar or None, "default": default["value"] if default else None}
    assert "help" in options, f"no options section in:\n{proc.stdout}"
    return options


def run_with(cpp_binaries, program, inputs, tmp_path, *extra):
    """Run program on the toy inputs with --device cpu unless extra sets it, plus extra."""
    model_path, labels, dat = inputs
    # One call's input files: one, or one per model input (optical flow's pair).
    dats = dat if isinstance(dat, list) else [dat]
    out = tmp_path / f"{program}.json"
    device = () if "--device" in extra else ("--device", "cpu")
    if program == "infer":
        args = ["--model", model_path, "--labels", labels, *device, *extra, "--output", out, *dats]
    else:
        # No warm-up and one timed forward: the choice is under test, not the measurement.
        protocol = ("--warmup-iters", 0, "--min-iters", 1, "--max-iters", 1)
        inputs = [arg for d in dats for arg in ("--input", d)]
        args = ["--model", model_path, *inputs, *device, *protocol, *extra, "--output", out]
    return run(cpp_binaries[program], *args), out


@pytest.fixture
def toy_inputs(toy_model, toy_labels, bench_input):
    return toy_model[0], toy_labels, bench_input


@pytest.fixture
def segmentation_toy_inputs(tmp_path_factory, bench_input):
    """A scripted toy segmenter (its dict output as torchvision's models return it) and its labels."""
    from cpp_helpers import save_scripted
    from toy_models import SEGMENTATION_CLASSES, Segmenter

    folder = tmp_path_factory.mktemp("segmenter")
    labels = folder / "labels.txt"
    labels.write_text("".join(f"class {i}\n" for i in range(SEGMENTATION_CLASSES)), encoding="utf-8")
    save_scripted(Segmenter(seed=0), folder / "segmenter.pt")
    return folder / "segmenter.pt", labels, bench_input


@pytest.fixture
def video_toy_inputs(tmp_path_factory, toy_labels):
    """A scripted toy video classifier, its labels (classification's) and a clip."""
    from cpp_helpers import save_scripted
    from toy_models import CLIP_SHAPE, video_classifier

    folder = tmp_path_factory.mktemp("video")
    save_scripted(video_classifier(seed=0), folder / "video.pt")
    clip = write_input(folder / "clip.dat", random_image(0, shape=CLIP_SHAPE), TASKS[VIDEO_CLASSIFICATION].input_layout)
    return folder / "video.pt", toy_labels, clip


@pytest.fixture
def flow_toy_inputs(tmp_path_factory):
    """A scripted toy flow model (its list of flows as RAFT returns it) and a pair's two inputs,
    named as a call's files are (<pair>.image1.dat, <pair>.image2.dat); it reads no labels."""
    from cpp_helpers import random_image, save_scripted, write_input
    from toy_models import FlowEstimator

    folder = tmp_path_factory.mktemp("flow")
    save_scripted(FlowEstimator(seed=0), folder / "flow.pt")
    pair = [
        write_input(folder / f"pair.{name}.dat", random_image(i, shape=(1, 3, 8, 8)))
        for i, name in enumerate(("image1", "image2"))
    ]
    return folder / "flow.pt", folder / "no_labels.txt", pair


@pytest.fixture
def detection_toy_inputs(tmp_path_factory):
    """A scripted toy detector (one [C, H, W] image in, its detections out), its labels and an image."""
    from cpp_helpers import random_image, save_scripted, write_input
    from toy_models import ToyMaskDetector

    folder = tmp_path_factory.mktemp("detector")
    labels = folder / "labels.txt"
    labels.write_text("".join(f"category {i}\n" for i in range(5)), encoding="utf-8")
    save_scripted(ToyMaskDetector(), folder / "detector.pt")
    image = write_input(folder / "image.dat", random_image(4, shape=(3, 16, 16)), layout=TASKS[DETECTION].input_layout)
    return folder / "detector.pt", labels, image


# The toy inputs each task's choice runs on (a task without any fails here).
TASK_TOY_INPUTS = {
    CLASSIFICATION: "toy_inputs",
    SEGMENTATION: "segmentation_toy_inputs",
    VIDEO_CLASSIFICATION: "video_toy_inputs",
    OPTICAL_FLOW: "flow_toy_inputs",
    DETECTION: "detection_toy_inputs",
}


@pytest.mark.parametrize("option", sorted(CHOICE_OPTIONS))
@pytest.mark.parametrize("program", PROGRAMS)
def test_help_lists_exactly_the_registry_choices(cpp_binaries, program, option):
    metavar = help_options(cpp_binaries[program])[option]["metavar"]
    assert metavar is not None, f"{program} --{option} takes no value"
    listed = metavar.split("|")
    assert len(listed) == len(set(listed)), f"{program} --{option} lists a choice twice: {metavar}"
    assert set(listed) == set(CHOICE_OPTIONS[option])


@pytest.mark.parametrize("program", PROGRAMS)
def test_task_choices_are_the_registry_tasks(cpp_binaries, program):
    # Both programs accept exactly tvdeploy.registry.TASKS, in its order, and default to classification.
    task = help_options(cpp_binaries[program])["task"]
    assert task["metavar"] is not None, f"{program} --task takes no value"
    assert tuple(task["metavar"].split("|")) == tuple(TASKS)
    assert task["default"] == CLASSIFICATION


@pytest.mark.parametrize(
    "option, choice", [(option, choice) for option, choices in CHOICE_OPTIONS.items() for choice in choices]
)
@pytest.mark.parametrize("program", PROGRAMS)
def test_every_registry_choice_is_accepted(cpp_binaries, toy_inputs, tmp_path, request, program, option, choice):
    extra = [f"--{option}", choice]
    if option == "task":
        toy_inputs = request.getfixturevalue(TASK_TOY_INPUTS[choice])
    # A transform only some devices run (cuda_graph) is given one of them.
    devices = {d for v in VARIANTS.values() if v.load_transform == choice for d in v.devices}
    if option == "transform" and devices and "cpu" not in devices:
        extra += ["--device", "cuda"]
    proc, out = run_with(cpp_binaries, program, toy_inputs, tmp_path, *extra)
    assert proc.returncode != EXIT_USAGE, proc.stderr
    if "cuda" in extra and not torch.cuda.is_available():
        # Accepted, then refused at run time: this machine has no GPU.
        assert proc.returncode == EXIT_RUNTIME
        assert "device 'cuda' requested but no CUDA device is available" in proc.stderr
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    if option == "device" and choice == "auto":
        assert report["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    elif option not in UNRECORDED:
        assert report[option.replace("-", "_")] == choice


@pytest.mark.parametrize("option", sorted(CHOICE_OPTIONS))
@pytest.mark.parametrize("program", PROGRAMS)
def test_unlisted_choice_is_a_usage_error(cpp_binaries, toy_inputs, tmp_path, program, option):
    choices = CHOICE_OPTIONS[option]
    # A made-up name, and a listed one in the wrong case (choices are matched exactly).
    for unlisted in ("bogus", choices[0].upper()):
        assert unlisted not in choices
        proc, out = run_with(cpp_binaries, program, toy_inputs, tmp_path, f"--{option}", unlisted)
        assert proc.returncode == EXIT_USAGE, proc.stderr
        assert f"usage: {program}" in proc.stderr
        message = re.search(rf"--{option} must be one of (?P<listed>\S+), got '{re.escape(unlisted)}'", proc.stderr)
        assert message, proc.stderr
        assert set(message["listed"].split("|")) == set(choices)
        assert not out.exists()


# ------------------------------------------------------ bench options from the protocol


def protocol_option(field: dataclasses.Field) -> str:
    return field.name.replace("_", "-")


@pytest.mark.parametrize("field", dataclasses.fields(Protocol), ids=lambda f: f.name)
def test_bench_has_an_option_per_protocol_field(cpp_binaries, field):
    options = help_options(cpp_binaries["bench"])
    assert protocol_option(field) in options, f"bench --help has no --{protocol_option(field)}"
    assert options[protocol_option(field)]["metavar"] is not None, f"bench --{protocol_option(field)} takes no value"


@pytest.mark.parametrize("field", dataclasses.fields(Protocol), ids=lambda f: f.name)
def test_bench_protocol_defaults_match_python(cpp_binaries, field):
    # Run by hand, bench measures with the same protocol as tvdeploy.measure.bench.Protocol().
    default = help_options(cpp_binaries["bench"])[protocol_option(field)]["default"]
    assert default is not None, f"bench --{protocol_option(field)} has no default"
    assert type(field.default)(default) == field.default
