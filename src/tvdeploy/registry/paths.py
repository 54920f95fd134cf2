"""Where every artifact and result of a run lives: one pattern each, used by the rules' outputs
and by the target lists (``tvdeploy.plan``). Patterns are Snakemake wildcard strings; fill them
with ``str.format``. Torch-free."""

from tvdeploy.registry import DEVICE_ARTIFACTS, PLAIN, VARIANTS

# A model's name in every path (torchvision's names): no dot, so that the files a record keeps
# beside it (a segmentation record's ``<model>.<i>.mask.dat`` and its ``.json`` sidecar,
# tvdeploy.predict.outputs) never read as another model's record.
MODEL_PATTERN = r"[a-z0-9_]+"
WEIGHTS = "data/weights/{model}.pth"
WEIGHTS_PROVENANCE = "data/weights/{model}.json"
LABELS = "results/labels/{model}.txt"
# The plain export is device-independent; derived variants are made on their device.
TORCHSCRIPT_PLAIN = "results/torchscript/plain/{model}.pt"
TORCHSCRIPT_PLAIN_META = "results/torchscript/plain/{model}.json"
TORCHSCRIPT_DERIVED = "results/torchscript/{device}/{variant}/{model}.pt"
TORCHSCRIPT_DERIVED_META = "results/torchscript/{device}/{variant}/{model}.json"
# Artifacts built from the nn.Module: a folder per model with the file(s) and build.json
# (tvdeploy.build.exporters). ONNX and OpenVINO IR are loaded on any device; AOTInductor packages are
# compiled for one, in float32 or half precision (registry.built_variant).
BUILT_ARTIFACT = "results/{artifact}/{model}"
DEVICE_BUILT_ARTIFACT = "results/{artifact}/{device}/{variant}/{model}"
# A calibrated variant (int8) of an ONNX or OpenVINO artifact, quantized from the float32 folder
# beside it; the model pattern holds no slash, so it never reads as a float32 folder.
QUANTIZED_ARTIFACT = "results/{artifact}/{variant}/{model}"
QUANTIZED_ARTIFACT_RECORD = "results/builds/{artifact}/{variant}/{model}.json"
# Each build's record is also kept apart from its folder: the tables read it, so they outlive an
# artifact dropped once its jobs are done (config export.keep_artifacts: false).
BUILT_ARTIFACT_RECORD = "results/builds/{artifact}/{model}.json"
DEVICE_BUILT_ARTIFACT_RECORD = "results/builds/{artifact}/{device}/{variant}/{model}.json"
INPUT_DAT = "results/inputs/{spec}/{image}.dat"
INPUT_SIDECAR = "results/inputs/{spec}/{image}.json"
# A task whose model call takes several inputs (optical flow: an image pair) keeps one .dat per
# input, named by the user's input (the pair) and the input's registry name (Task.input_names),
# e.g. chelsea_pan.image1.dat: a call's files sort together, and each says which argument it is.
# The C++ infer and the Python predict take them in Task.input_names order, call by call.
INPUT_MEMBER_DAT = "results/inputs/{spec}/{image}.{input}.dat"
INPUT_MEMBER_SIDECAR = "results/inputs/{spec}/{image}.{input}.json"
INPUT_MEMBER_SEPARATOR = "."
CPP_BUILD_DIR = "build/cpp"
CPP_PROGRAM = CPP_BUILD_DIR + "/{program}"
CPP_INFER = CPP_PROGRAM.format(program="infer")
CPP_BENCH = CPP_PROGRAM.format(program="bench")
# Measurements belong to a run (tvdeploy.results.runs): one folder per machine, so runs made elsewhere can
# be copied in beside this one. ``{run}`` is filled with this run's label before a rule sees it.
RUNS_DIR = "results/runs"
RUN_DIR = RUNS_DIR + "/{run}"
PREDICTION = RUN_DIR + "/predictions/{device}/{runtime}/{variant}/{model}.json"
# One interleaved comparison of every deployment of a model (tvdeploy.measure.compare).
COMPARISON = RUN_DIR + "/compare/{device}/b{batch}/{model}.json"
OVERHEAD = RUN_DIR + "/overhead/{device}/{runtime}.json"
PARITY = RUN_DIR + "/parity/{device}/{model}.json"
# The eager predictions of a quantized model's float model that the run does not select (its
# reference for the quantized model's agreement with it; tvdeploy.results.float_agreement): kept
# apart from the deployments' predictions, which the tables count as deployments.
FLOAT_REFERENCE = RUN_DIR + "/float_references/{device}/{model}.json"
# Where a model's eager time goes on the CPU, by kind of operator (tvdeploy.measure.profile_ops; on request).
PROFILE = RUN_DIR + "/profile/cpu/{model}.md"
MEASUREMENTS = {
    "comparisons": COMPARISON,
    "overhead": OVERHEAD,
    "parity": PARITY,
    "predictions": PREDICTION,
    "float_references": FLOAT_REFERENCE,
}
TABLES_DIR = "results/tables"
TABLES = {
    "environment": f"{TABLES_DIR}/environment.json",
    "overhead": f"{TABLES_DIR}/overhead.csv",
    "latency_csv": f"{TABLES_DIR}/latency.csv",
    "latency_md": f"{TABLES_DIR}/latency.md",
    "ratios": f"{TABLES_DIR}/ratios.csv",
    "predictions": f"{TABLES_DIR}/predictions.csv",
    "parity": f"{TABLES_DIR}/parity.csv",
    "deployability": f"{TABLES_DIR}/deployability.csv",
    "builds": f"{TABLES_DIR}/builds.csv",
    "accuracy": f"{TABLES_DIR}/accuracy.csv",
    "float_agreement": f"{TABLES_DIR}/float_agreement.csv",
}
# Figures of a run (tvdeploy.results.plots), per device and batch size or per device, and its one-page summary.
PLOTS_DIR = "results/plots"
PLOTS_PER_BATCH = {
    "latency": PLOTS_DIR + "/{run}/{device}/b{batch}/latency.png",
    "speedup": PLOTS_DIR + "/{run}/{device}/b{batch}/speedup.png",
    "accuracy": PLOTS_DIR + "/{run}/{device}/b{batch}/accuracy_vs_latency.png",
}
PLOTS_PER_DEVICE = {
    "throughput": PLOTS_DIR + "/{run}/{device}/throughput.png",
    "deployability": PLOTS_DIR + "/{run}/{device}/deployability.png",
}
# What a model's deployments produced on its first real input, drawn (tvdeploy.results.pictures):
# eager beside the fastest other deployment, per model whose task is drawn (Task.output_picture).
OUTPUT_PICTURE = PLOTS_DIR + "/{run}/{device}/outputs/{model}.png"
# Every run and device present side by side (drawn once two are present).
PLOT_RUNS = PLOTS_DIR + "/runs_b{batch}.png"
SUMMARY = "results/summary.md"
REPORT = "results/report.html"
CATALOG_DOC = "docs/generated/catalog.md"
# The figure the README shows: this run's accuracy vs latency on its first device at batch 1.
README_FIGURE = "docs/generated/accuracy_vs_latency.png"
LOGS_DIR = "results/logs"
# Snakemake `benchmark:` files: each job's wall time and peak memory.
JOBS_DIR = "results/jobs"


def input_stem(image: str, input_name: str, input_names: tuple[str, ...]) -> str:
    """The stem of the .dat holding argument ``input_name`` of a model call on the user's input
    ``image``: the image's name where the task takes one input, ``<image>.<input_name>`` where
    it takes several (INPUT_MEMBER_DAT)."""
    if input_name not in input_names:
        raise ValueError(f"{input_name!r} is not one of the task's inputs {input_names}")
    return image if len(input_names) == 1 else f"{image}{INPUT_MEMBER_SEPARATOR}{input_name}"


def input_dats(spec: str, image: str, input_names: tuple[str, ...], *, sidecars: bool = False) -> list[str]:
    """The .dat files of one model call on the user's input ``image``, in ``input_names`` order:
    INPUT_DAT for a one-input task, INPUT_MEMBER_DAT per input otherwise (``sidecars``: their
    sidecars, INPUT_SIDECAR or INPUT_MEMBER_SIDECAR)."""
    if len(input_names) == 1:
        return [(INPUT_SIDECAR if sidecars else INPUT_DAT).format(spec=spec, image=image)]
    member = INPUT_MEMBER_SIDECAR if sidecars else INPUT_MEMBER_DAT
    return [member.format(spec=spec, image=image, input=name) for name in input_names]


def call_input_stem(stem: str, input_names: tuple[str, ...]) -> tuple[str, str]:
    """``(user input's name, argument name)`` of a .dat stem made by input_stem; ValueError where
    a several-input task's stem does not end in one of its input names."""
    if len(input_names) == 1:
        return stem, input_names[0]
    image, sep, name = stem.rpartition(INPUT_MEMBER_SEPARATOR)
    if not sep or not image or name not in input_names:
        raise ValueError(
            f"input file {stem!r} does not name a model input: expected <input>.<name>, name one of {input_names}"
        )
    return image, name


def group_call_inputs(dat_paths, input_names: tuple[str, ...]) -> list[tuple[str, list]]:
    """The model calls of a list of .dat paths (as infer takes them: each call's inputs in a row,
    in ``input_names`` order): ``[(user input's name, [path per input]), ...]``. ValueError naming
    the file where a path is out of place or a call is incomplete."""
    from pathlib import PurePath

    paths = list(dat_paths)
    per_call = len(input_names)
    if len(paths) % per_call:
        raise ValueError(f"{len(paths)} input files do not make calls of {per_call} inputs {input_names}")
    calls = []
    for first in range(0, len(paths), per_call):
        members = paths[first : first + per_call]
        names = [call_input_stem(PurePath(p).stem, input_names) for p in members]
        for (image, name), expected, path in zip(names, input_names, members, strict=True):
            if name != expected or image != names[0][0]:
                raise ValueError(
                    f"input file {path} is argument {name!r} of {image!r}, but the call's place holds "
                    f"argument {expected!r} of {names[0][0]!r} (order: {', '.join(input_names)})"
                )
        calls.append((names[0][0], members))
    return calls


def torchscript(device: str, variant: str, model: str) -> str:
    if variant == PLAIN:
        return TORCHSCRIPT_PLAIN.format(model=model)
    return TORCHSCRIPT_DERIVED.format(device=device, variant=variant, model=model)


def built_artifact(kind: str, variant: str = PLAIN) -> str:
    """The folder pattern (wildcards ``{model}``, and ``{device}`` and ``{variant}`` for
    device-specific kinds) of one built artifact kind; of its calibrated ``variant`` (int8) with
    the variant filled in."""
    if kind in DEVICE_ARTIFACTS:
        return DEVICE_BUILT_ARTIFACT.replace("{artifact}", kind)
    if VARIANTS[variant].calibrated:
        return QUANTIZED_ARTIFACT.replace("{artifact}", kind).replace("{variant}", variant)
    return BUILT_ARTIFACT.replace("{artifact}", kind)


def built_artifact_record(kind: str, variant: str = PLAIN) -> str:
    """The pattern of the build record kept beside the folders of one built artifact kind (and variant)."""
    if kind in DEVICE_ARTIFACTS:
        return DEVICE_BUILT_ARTIFACT_RECORD.replace("{artifact}", kind)
    if VARIANTS[variant].calibrated:
        return QUANTIZED_ARTIFACT_RECORD.replace("{artifact}", kind).replace("{variant}", variant)
    return BUILT_ARTIFACT_RECORD.replace("{artifact}", kind)
