# Helpers for the rules: model catalog, images, devices, targets, resources.
# Parsing must stay fast: nothing here imports torch.

import re
import sys
from dataclasses import asdict
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

REPO_DIR = Path(workflow.basedir)

from tvdeploy.bench import Protocol, ProtocolError
from tvdeploy.catalog import UnknownModelError, read_sheet, resolve_models
from tvdeploy.devices import resolve_devices
from tvdeploy.environment import config_sha256
from tvdeploy.scheduling import keep_one_reevaluation_timer
from tvdeploy.variants import VARIANTS as ALL_VARIANTS, load_transform, variants_for_device

# Otherwise Snakemake's scheduler re-plans once per finished job per second, beside the
# benchmarks (see tvdeploy/scheduling.py).
if not keep_one_reevaluation_timer():
    logger.warning(
        "tvdeploy: this Snakemake has no JobScheduler._schedule_reevalutation; "
        "check the main process's CPU use during benchmarks"
    )

CATALOG = read_sheet(REPO_DIR / config["model_sheet"])
try:
    MODELS = resolve_models(config["models"], CATALOG)
except UnknownModelError as err:
    raise WorkflowError(str(err))
try:
    Protocol.from_config(config["bench"])
except ProtocolError as err:
    raise WorkflowError(str(err))

CONFIG_SHA256 = config_sha256(config)
RUNTIMES = config["runtimes"]
VARIANTS = config["variants"]
BATCH_SIZES = config["bench"]["batch_sizes"]
# Files Pillow can open; the list is fixed here so parsing does not import Pillow plugins.
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _list_images(folder):
    folder = Path(folder)
    if not folder.is_dir():
        raise WorkflowError(f"images: '{folder}' is not a directory")
    images = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in images:
                raise WorkflowError(f"images: {images[path.stem].name} and {path.name} share the name '{path.stem}'")
            images[path.stem] = path
    if not images:
        raise WorkflowError(f"images: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in '{folder}'")
    return images


IMAGES = _list_images(config["images"])
BENCH_IMAGE = config["bench"].get("image") or next(iter(IMAGES))
if BENCH_IMAGE not in IMAGES:
    raise WorkflowError(f"bench.image: '{BENCH_IMAGE}' is not one of the images {sorted(IMAGES)}")


DEVICES = resolve_devices(config["devices"])
SPECS = {CATALOG[m].spec_id: CATALOG[m].preprocess_spec() for m in MODELS}


wildcard_constraints:
    # Names are checked against the catalog by model_entry(); a plain pattern keeps DAG building fast.
    model=r"[a-z0-9_]+",
    image="|".join(re.escape(i) for i in IMAGES),
    spec=r"r\d+_c\d+_[a-z]+_[a-z0-9]+(_noaa)?",
    device="cpu|cuda",
    runtime="eager|ts-python|ts-cpp",
    variant="|".join(("none",) + ALL_VARIANTS),
    batch=r"\d+",


# ---- per-model facts ---------------------------------------------------------------------

MB = 1e6
BYTES_PER_PARAM = 4


def model_entry(model):
    """The catalog row of a model named in a target; unknown names fail with suggestions."""
    try:
        resolve_models([model], CATALOG)
    except UnknownModelError as err:
        raise WorkflowError(str(err))
    return CATALOG[model]


def weights_mb(model):
    return model_entry(model).num_params * BYTES_PER_PARAM / MB


def model_info(wildcards):
    return asdict(model_entry(wildcards.model))


def weights_url(wildcards):
    return config.get("weights_urls", {}).get(wildcards.model)


def preprocess_params(wildcards):
    if wildcards.spec not in SPECS:
        raise WorkflowError(f"no selected model uses preprocessing spec '{wildcards.spec}'")
    return SPECS[wildcards.spec]


def image_file(wildcards):
    return str(IMAGES[wildcards.image])


def model_dats(wildcards):
    spec = model_entry(wildcards.model).spec_id
    return [f"results/inputs/{spec}/{image}.dat" for image in IMAGES]


def model_dat_sidecars(wildcards):
    return [Path(p).with_suffix(".json").as_posix() for p in model_dats(wildcards)]


def bench_dat(wildcards):
    return f"results/inputs/{model_entry(wildcards.model).spec_id}/{BENCH_IMAGE}.dat"


def bench_dat_sidecar(wildcards):
    return Path(bench_dat(wildcards)).with_suffix(".json").as_posix()


def torchscript_path(device, variant, model):
    """The plain export is device-independent; derived variants are made on their device."""
    if variant == "plain":
        return f"results/torchscript/plain/{model}.pt"
    return f"results/torchscript/{device}/{variant}/{model}.pt"


def torchscript_file(wildcards):
    return torchscript_path(wildcards.device, wildcards.variant, wildcards.model)


def python_model_file(wildcards):
    """Eager runs rebuild the model from its weights; TorchScript runs load the exported file."""
    if wildcards.runtime == "eager":
        if wildcards.variant != "none":
            raise WorkflowError(f"eager has no variant '{wildcards.variant}' (use 'none')")
        return f"data/weights/{wildcards.model}.pth"
    return torchscript_file(wildcards)


def variant_transform(wildcards):
    return load_transform(wildcards.variant)


def parity_rtol(device, variant, against_eager=True):
    """Half precision against float32 eager gets the half-precision tolerance. Float32 on CUDA gets
    cuda_rtol: cuDNN runs float32 convolutions in TF32 (10-bit mantissa) by default on Ampere and
    later GPUs, and eager, frozen (conv+bn folded) and channels_last modules get different
    algorithms, so they differ by ~3e-4 of the logits' scale (measured on an H100)."""
    if variant == "fp16" and against_eager:
        return config["parity"]["fp16_rtol"]
    return config["parity"]["cuda_rtol"] if device == "cuda" else config["parity"]["rtol"]


def variant_rtol(wildcards):
    return parity_rtol(wildcards.device, wildcards.variant)


# ---- resources ------------------------------------------------------------------------------
# Memory is planned from each model's size: the weights are held about four times while
# exporting (state_dict, model, scripted module, serialisation buffer) and twice when running;
# activations grow with the input's pixels and the batch. The interpreter and libtorch come on top.

BASE_MEM_MB = 1500
ACTIVATION_MB_PER_KILOPIXEL = 1.0


def activation_mb(model, batch=1):
    return ACTIVATION_MB_PER_KILOPIXEL * model_entry(model).crop_size ** 2 / 1000 * batch


def export_mem_for(model):
    return int(BASE_MEM_MB + 4 * weights_mb(model) + activation_mb(model))


def export_mem_mb(wildcards):
    return export_mem_for(wildcards.model)


def run_mem_mb(wildcards):
    batch = int(getattr(wildcards, "batch", 1))
    return int(BASE_MEM_MB + 2 * weights_mb(wildcards.model) + activation_mb(wildcards.model, batch))


def bench_threads(wildcards):
    # A benchmark claims every core so that nothing else runs beside it.
    return workflow.cores


# ---- targets --------------------------------------------------------------------------------


def runtime_variants(runtime, device):
    return ["none"] if runtime == "eager" else variants_for_device(VARIANTS, device)


def prediction_file(device, runtime, variant, model):
    return f"results/predictions/{device}/{runtime}/{variant}/{model}.json"


def prediction_items():
    return [
        {"file": prediction_file(d, r, v, m), "model": m, "runtime": r, "variant": v, "device": d}
        for d in DEVICES
        for r in RUNTIMES
        for v in runtime_variants(r, d)
        for m in MODELS
    ]


def bench_files():
    return [
        f"results/bench/{d}/{r}/{v}/b{b}/{m}.json"
        for d in DEVICES
        for r in RUNTIMES
        for v in runtime_variants(r, d)
        for b in BATCH_SIZES
        for m in MODELS
    ]


def job_benchmark_files():
    """The Snakemake ``benchmark:`` file of every job of a whole run but the benchmarks and the
    aggregation (benchmark results carry their own job span), for the run's wall-time accounting.
    Paths come from the rules' own ``benchmark:`` patterns; call this after they are defined."""
    files = [rules.build_cpp.benchmark]
    files += expand(rules.download_weights.benchmark, model=MODELS)
    files += expand(rules.export_torchscript.benchmark, model=MODELS)
    files += expand(rules.preprocess_image.benchmark, spec=list(SPECS), image=IMAGES)
    for d in DEVICES:
        derived = [v for v in variants_for_device(VARIANTS, d) if v != "plain"]
        files += expand(rules.derive_torchscript_variant.benchmark, device=d, variant=derived, model=MODELS)
    for item in prediction_items():
        if item["runtime"] == "ts-cpp":
            files += expand(
                rules.infer_cpp.benchmark, device=item["device"], variant=item["variant"], model=item["model"]
            )
        else:
            files += expand(
                rules.infer_python.benchmark,
                device=item["device"],
                runtime=item["runtime"],
                variant=item["variant"],
                model=item["model"],
            )
    files += expand(rules.check_parity.benchmark, device=DEVICES, model=MODELS)
    return files


def parity_pairs(wildcards):
    """Each runtime against the one it should reproduce: ts-python vs eager, ts-cpp vs ts-python."""
    d, m = wildcards.device, wildcards.model
    pairs = []
    for variant in variants_for_device(VARIANTS, d):
        chain = [("eager", "none"), ("ts-python", variant), ("ts-cpp", variant)]
        present = [(r, v) for r, v in chain if r in RUNTIMES]
        for (ref_rt, ref_v), (cand_rt, cand_v) in zip(present, present[1:]):
            pairs.append(
                {
                    "runtime": cand_rt,
                    "variant": cand_v,
                    "reference": ref_rt if ref_v == "none" else f"{ref_rt}/{ref_v}",
                    "rtol": parity_rtol(d, cand_v, against_eager=ref_rt == "eager"),
                    "reference_file": prediction_file(d, ref_rt, ref_v, m),
                    "candidate_file": prediction_file(d, cand_rt, cand_v, m),
                }
            )
    return pairs


def parity_inputs(wildcards):
    return sorted({p[k] for p in parity_pairs(wildcards) for k in ("reference_file", "candidate_file")})


def provenance_files():
    return {m: f"data/weights/{m}.json" for m in MODELS}


def overhead_inputs(wildcards):
    """The overhead probe is fed the first model's benchmark input; ts-cpp also needs the program."""
    inputs = {"dat": f"results/inputs/{CATALOG[MODELS[0]].spec_id}/{BENCH_IMAGE}.dat"}
    if wildcards.runtime == "ts-cpp":
        inputs["bench"] = "build/cpp/bench"
    return inputs


TABLES = [
    "results/tables/overhead.csv",
    "results/tables/latency.csv",
    "results/tables/latency.md",
    "results/tables/predictions.csv",
    "results/tables/parity.csv",
]


def catalog_rows(wildcards):
    return {m: asdict(CATALOG[m]) for m in MODELS}


def export_mem_by_model(wildcards):
    return {m: export_mem_for(m) for m in MODELS}
