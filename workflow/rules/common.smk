# Wiring between the config and the rules: the run's plan and thin input functions over it.
# The logic lives in the tvdeploy package (tvdeploy.plan, tvdeploy.registry; unit-tested).
# Parsing must stay fast: nothing here imports torch.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from tvdeploy.registry import paths
from tvdeploy.build.cpp import PROGRAMS, program_sources
from tvdeploy.host.environment import config_sha256
from tvdeploy.plan import ConfigError, Plan, alternation
from tvdeploy.registry import AOTI, AOTI_BUILT_VARIANTS, BUILT_ARTIFACTS, CPP, ONNX, OPENVINO, PYTHON, derived_variants
from tvdeploy.registry import CALIBRATED_VARIANTS, QUANTIZE_RULE, QUANTIZED_ARTIFACTS
from tvdeploy.registry import IMAGE_PAIR, TASKS
from tvdeploy.plan.resources import BASE_MEM_MB, BUILD_MEM_MB, cpus_per_gpu, gpus
from tvdeploy.plan.model_order import ModelOrder, schedule_in_priority_order
from tvdeploy.plan.scheduling import SchedulerPatchError, keep_one_reevaluation_timer
from tvdeploy.plan.targets import LOCAL_RULES, REFERENCE_DEPLOYMENT

# Otherwise Snakemake's scheduler re-plans once per finished job per second, beside the
# benchmarks (see tvdeploy/plan/scheduling.py).
try:
    keep_one_reevaluation_timer()
except SchedulerPatchError as err:
    logger.warning(f"tvdeploy: {err}")
# Each model's jobs before the next model's, its comparison included, so that its temporary
# artifacts go before the next models' pile up (see tvdeploy/plan/model_order.py).
try:
    schedule_in_priority_order()
except SchedulerPatchError as err:
    logger.warning(f"tvdeploy: {err}")

try:
    PLAN = Plan.from_config(config, workflow.basedir)
except ConfigError as err:
    raise WorkflowError(str(err))
for reasons in PLAN.not_run().values():
    for reason in reasons:
        logger.warning(f"tvdeploy: {reason}")

CONFIG_SHA256 = config_sha256(config)
MODEL_ORDER = ModelOrder(tuple(PLAN.models))
CPP_DIR = Path(workflow.basedir) / "cpp"
# The arguments of a model call on an image pair (optical flow: image1, image2), one .dat each.
PAIR_INPUTS = next(t.input_names for t in TASKS.values() if t.input_kind == IMAGE_PAIR)


wildcard_constraints:
    **PLAN.wildcard_constraints(),


def artifact_output(path):
    """A deployable artifact's output: kept, or temp() when config export.keep_artifacts is false."""
    return path if config["export"]["keep_artifacts"] else temp(path)


def model_priority(wildcards):
    return MODEL_ORDER.priority(wildcards.model)


def model_info(wildcards):
    return PLAN.model_fields(wildcards.model)


def weights_url(wildcards):
    return config.get("weights_urls", {}).get(wildcards.model)


def preprocess_params(wildcards):
    try:
        return PLAN.spec(wildcards.spec)
    except ConfigError as err:
        raise WorkflowError(str(err))


def image_file(wildcards):
    # An image, or a video model's clip (file or frame folder); for an optical-flow spec the
    # pair's two images, in order: the spec's task says which.
    try:
        source = PLAN.model_inputs.input_file(wildcards.spec, wildcards.image)
    except ConfigError as err:
        raise WorkflowError(str(err))
    return [str(p) for p in source] if isinstance(source, tuple) else str(source)


def model_dats(wildcards):
    return PLAN.dats(wildcards.model)


def calibration_dats(wildcards):
    # A calibrated variant's (int8) calibration inputs; none for the others.
    return PLAN.calibration_dats(wildcards.model) if wildcards.variant in CALIBRATED_VARIANTS else []


def quantize_source(wildcards):
    # The float32 folder of the artifact a calibrated variant is quantized from.
    return paths.built_artifact(wildcards.artifact).format(model=wildcards.model)


def bench_dats(wildcards):
    return PLAN.bench_dats(wildcards.model)


def model_labels(wildcards):
    # None where the model's task names no classes (optical flow).
    return PLAN.labels(wildcards.model)


def model_dat_sidecars(wildcards):
    return PLAN.sidecars(wildcards.model)


def model_prediction_files(wildcards):
    return [p["file"] for p in PLAN.model_predictions(wildcards.device, wildcards.model)]


def artifact_file(wildcards):
    try:
        return PLAN.artifact(wildcards.runtime, wildcards.device, wildcards.variant, wildcards.model)
    except ConfigError as err:
        raise WorkflowError(str(err))


def variant_rtol(wildcards):
    return PLAN.parity_rtol(wildcards.device, wildcards.variant)


def export_mem_mb(wildcards):
    return PLAN.export_mem_mb(wildcards.model)


def run_mem_mb(wildcards):
    return PLAN.run_mem_mb(wildcards.model, int(getattr(wildcards, "batch", 1)))


def device_gpus(wildcards):
    return gpus(wildcards.device)


def device_cpus_per_gpu(wildcards, threads):
    return cpus_per_gpu(wildcards.device, threads)


def comparison_deployments(wildcards):
    return PLAN.comparison_deployments(wildcards.device)


def comparison_pairs(wildcards):
    return PLAN.comparison_pairs(wildcards.device)


def comparison_inputs(wildcards):
    d, m = wildcards.device, wildcards.model
    # A model whose task does not batch (a detector) is refused at any batch but 1.
    PLAN.check_batch(m, int(wildcards.batch))
    inputs = {
        "artifacts": [PLAN.artifact(r, d, v, m) for r, v in PLAN.comparison_deployments(d)],
        # Every input of the benchmarks' model call (optical flow: the pair's image1, image2).
        "dat": PLAN.bench_dats(m),
        "sidecar": PLAN.bench_sidecars(m),
        "provenance": paths.WEIGHTS_PROVENANCE.format(model=m),
    }
    if any(PLAN.runtime_language(r) == CPP for r, _ in PLAN.comparison_deployments(d)):
        inputs["bench"] = paths.CPP_BENCH
    return inputs


def comparison_mem_mb(wildcards):
    return PLAN.comparison_mem_mb(wildcards.device, wildcards.model, int(wildcards.batch))


def bench_threads(wildcards):
    # A benchmark claims every core so that nothing else runs beside it.
    return workflow.cores


def parity_pairs(wildcards):
    return PLAN.parity_pairs(wildcards.device, wildcards.model)


def parity_inputs(wildcards):
    return PLAN.parity_inputs(wildcards.device, wildcards.model)


def overhead_inputs(wildcards):
    inputs = {"dat": PLAN.overhead_dat()}
    if PLAN.runtime_language(wildcards.runtime) == CPP:
        inputs["bench"] = paths.CPP_BENCH
    return inputs


def job_benchmark_files():
    """The Snakemake ``benchmark:`` file of every job of a whole run but the benchmarks and the
    aggregation, from the rules' own ``benchmark:`` patterns; call after the rules are defined."""
    return [
        getattr(rules, rule).benchmark.format(**wildcards)
        for rule, jobs in PLAN.job_wildcards().items()
        for wildcards in jobs
    ]


def build_items():
    """Every artifact build of this run: what it built, its record (the export's metadata or the
    build record) and its job's benchmark file (wall time, peak memory); call after the export
    rules are defined."""
    items = [
        {
            "model": m,
            "artifact": "torchscript",
            "record": paths.TORCHSCRIPT_PLAIN_META.format(model=m),
            "job": rules.export_torchscript.benchmark.format(model=m),
        }
        for m in PLAN.models
    ]
    items += [
        {
            "model": w["model"],
            "artifact": f"torchscript {w['variant']} ({w['device']})",
            "record": paths.TORCHSCRIPT_DERIVED_META.format(**w),
            "job": rules.derive_torchscript_variant.benchmark.format(**w),
        }
        for w in PLAN.derived_torchscript()
    ]
    kinds = {rule: kind for kind, rule in BUILT_ARTIFACTS.items()}

    def build_name(builder, w):
        # Named like the TorchScript variants: per device and variant where built per both.
        if builder == QUANTIZE_RULE:
            return f"{w['artifact']} {w['variant']}"
        return f"{kinds[builder]} {w['variant']} ({w['device']})" if "device" in w else kinds[builder]

    def build_record(builder, w):
        if builder == QUANTIZE_RULE:
            return paths.built_artifact_record(w["artifact"], w["variant"]).format(**w)
        return paths.built_artifact_record(kinds[builder]).format(**w)

    items += [
        {
            "model": w["model"],
            "artifact": build_name(builder, w),
            "record": build_record(builder, w),
            "job": getattr(rules, builder).benchmark.format(**w),
        }
        for builder, builds in PLAN.artifact_builds().items()
        for w in builds
    ]
    return items
