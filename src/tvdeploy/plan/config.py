"""What the config's JSON schema (workflow/schemas/config.schema.yaml, validated by the Snakefile)
cannot check: names resolved against the model catalog and the registry, the image folder, and
constraints between settings. Each failure is a ConfigError that says what to change.

The runtime and variant names are also enums of the schema; they are looked up in the registry
here too because a Plan is built from configs the Snakefile never saw (tests, experiment configs
merged by hand), and the registry's lookup names the known ones.
"""

from __future__ import annotations

import re
from pathlib import Path

from tvdeploy.catalog.sheet import ModelInfo, UnknownModelError, resolve_models
from tvdeploy.inputs.pair_folder import PairReadError, list_pair_folder
from tvdeploy.measure.bench import Protocol, ProtocolError
from tvdeploy.registry import CLIP, IMAGE_PAIR, TASKS, runtime, variant
from tvdeploy.results import runs

# Files Pillow can open; fixed here so parsing does not import Pillow's plugins.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# The class folders of a labeled image folder (ImageNet's validation layout): WordNet ids.
IMAGENET_CLASS = re.compile(r"n\d{8}")
# Video files taken as clips (FFmpeg decodes many more; these are the common containers), listed by
# suffix so parsing imports neither PyAV nor torch. A subfolder is a clip of frames.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")


class ConfigError(ValueError):
    """The configuration cannot describe a run (the message says what to change)."""


def list_images(folder: str | Path) -> dict[str, Path]:
    """Image files in ``folder`` by file stem, sorted; stems must be unique. A labeled folder
    (ImageNet validation layout: ``<folder>/<wnid>/<image>``, no image beside the class folders)
    gives the images of every class folder; image_labels names each one's class."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"images: '{folder}' is not a directory")
    classes = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    images = _image_files(folder)
    if classes and images:
        raise ConfigError(
            f"images: '{folder}' holds both images ({next(iter(images.values())).name}) and class folders "
            f"({classes[0].name}): a labeled folder keeps its images inside its class folders only"
        )
    for class_folder in classes:
        if not IMAGENET_CLASS.fullmatch(class_folder.name):
            raise ConfigError(
                f"images: class folder '{class_folder.name}' of '{folder}' is no ImageNet WordNet id (n + 8 digits): "
                "a labeled folder is laid out as ImageNet's validation set, <folder>/<wnid>/<image>"
            )
        for name, path in _image_files(class_folder).items():
            if name in images:
                raise ConfigError(f"images: {images[name]} and {path} share the name '{name}'")
            images[name] = path
    if not images:
        raise ConfigError(f"images: no image files ({', '.join(IMAGE_SUFFIXES)}) in '{folder}' or its class folders")
    return dict(sorted(images.items()))


def image_labels(images: dict[str, Path], folder: str | Path) -> dict[str, str]:
    """The class (WordNet id) of each image of a labeled folder, by image name; {} for a plain one."""
    return {name: path.parent.name for name, path in images.items() if path.parent != Path(folder)}


def _image_files(folder: Path) -> dict[str, Path]:
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in images:
                raise ConfigError(f"images: {images[path.stem].name} and {path.name} share the name '{path.stem}'")
            images[path.stem] = path
    return images


def list_clips(folder: str | Path) -> dict[str, Path]:
    """Clips in ``folder`` by name, sorted: video files by stem and frame folders (subfolders not
    starting with a dot) by name; names must be unique. Whether a clip decodes, and has enough
    frames, is checked when it is preprocessed (tvdeploy.inputs.video.read_clip)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"clips: '{folder}' is not a directory")
    clips: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        frame_folder = path.is_dir() and not path.name.startswith(".")
        if frame_folder or (path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES):
            name = path.name if frame_folder else path.stem
            if name in clips:
                raise ConfigError(f"clips: {clips[name].name} and {path.name} share the name '{name}'")
            clips[name] = path
    if not clips:
        raise ConfigError(f"clips: no video files ({', '.join(VIDEO_SUFFIXES)}) or frame folders in '{folder}'")
    return clips


def selected_models(config: dict, catalog: dict[str, ModelInfo]) -> list[str]:
    """The catalog models the config names (``all``: every one); typos fail with suggestions."""
    try:
        return resolve_models(config["models"], catalog)
    except UnknownModelError as err:
        raise ConfigError(str(err)) from None


def find_model(catalog: dict[str, ModelInfo], name: str) -> ModelInfo:
    """The catalog row of a model named in a target; unknown names fail with suggestions."""
    if name not in catalog:
        selected_models({"models": [name]}, catalog)
    return catalog[name]


def bench_protocol(config: dict) -> Protocol:
    """The benchmark protocol, and the settings that must agree with it: the comparison's
    launches split its minimum rounds, which are at most its maximum (bench.rounds), and a
    batch-1-only AOTInductor package benchmarks batch 1 only."""
    try:
        protocol = Protocol.from_config(config["bench"])
    except ProtocolError as err:
        raise ConfigError(str(err)) from None
    compare = config.get("compare", {})
    launches, min_rounds = compare.get("launches", 1), compare.get("min_rounds", protocol.rounds)
    if min_rounds > protocol.rounds:
        raise ConfigError(f"compare.min_rounds ({min_rounds}) must not exceed bench.rounds ({protocol.rounds})")
    if launches > min_rounds:
        raise ConfigError(f"compare.launches ({launches}) must not exceed compare.min_rounds ({min_rounds})")
    aoti = config.get("export", {}).get("aoti", {})
    if aoti.get("static_batch") and list(config["bench"]["batch_sizes"]) != [1]:
        raise ConfigError(
            f"export.aoti.static_batch compiles the AOTInductor packages for batch 1 only, but bench.batch_sizes "
            f"is {config['bench']['batch_sizes']}: set static_batch to false or batch_sizes to [1]"
        )
    return protocol


def check_registry_names(config: dict) -> None:
    """Every runtime and variant the config names is one of the registry's."""
    for key, lookup in (("runtimes", runtime), ("variants", variant)):
        for name in config[key]:
            try:
                lookup(name)
            except ValueError as err:
                raise ConfigError(f"{key}: {err}") from None


def bench_image(config: dict, images: dict[str, Path]) -> str:
    """The image the benchmarks feed: the configured stem, or the first image by name."""
    chosen = config["bench"].get("image") or next(iter(images))
    if chosen not in images:
        raise ConfigError(f"bench.image: '{chosen}' is not one of the images {sorted(images)}")
    return chosen


def _input_folder(
    config: dict, key: str, catalog: dict[str, ModelInfo], models: list[str], repo_dir: Path, kind: str, takers: str
) -> Path | None:
    """The folder of config ``key`` (relative to the repository) where a selected model's task takes
    inputs of ``kind``, None where none does (a run of image models needs no clip or pair folder);
    ConfigError naming those models (``takers``: what they are) where the folder is not configured."""
    taking = [m for m in models if TASKS[catalog[m].task].input_kind == kind]
    if not taking:
        return None
    if not config.get(key):
        raise ConfigError(f"{key}: no {kind.split()[-1]} folder configured, but the {takers} {taking} take {kind}s")
    folder = Path(config[key])
    return folder if folder.is_absolute() else repo_dir / folder


def clips(config: dict, catalog: dict[str, ModelInfo], models: list[str], repo_dir: Path) -> dict[str, Path]:
    """The clips of config ``clips`` (a folder, relative to the repository), listed only where a
    selected model takes clips: a run of image models needs no clip folder, a video model one."""
    folder = _input_folder(config, "clips", catalog, models, repo_dir, CLIP, "video models")
    return {} if folder is None else list_clips(folder)


def pairs(
    config: dict, catalog: dict[str, ModelInfo], models: list[str], repo_dir: Path
) -> dict[str, tuple[Path, Path]]:
    """The image pairs of config ``pairs`` (a folder, relative to the repository; the
    ``<name>_1``/``<name>_2`` convention of tvdeploy.inputs.pair_folder) as (first, second) files
    by name, listed only where a selected model takes pairs: a run of image models needs no pair
    folder, an optical-flow model one. Whether the images fit RAFT is checked when they are
    preprocessed (tvdeploy.inputs.pairs)."""
    folder = _input_folder(config, "pairs", catalog, models, repo_dir, IMAGE_PAIR, "optical-flow models")
    if folder is None:
        return {}
    try:
        listed = list_pair_folder(folder)
    except PairReadError as err:
        raise ConfigError(f"pairs: {err}") from None
    return {name: (source.first, source.second) for name, source in listed.items()}


def run_label(config: dict) -> str:
    """This run's label (its folder under results/runs/): the configured one or the host's."""
    try:
        return runs.run_label(config.get("run"))
    except runs.RunLabelError as err:
        raise ConfigError(str(err)) from None
