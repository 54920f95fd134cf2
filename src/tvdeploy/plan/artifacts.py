"""The artifact each deployment loads and the builds that make them: the weights (eager), the
TorchScript exports (plain, and each derived variant per device), and the built artifact folders
(ONNX, OpenVINO IR, AOTInductor packages) by the rule that builds each (registry BUILT_ARTIFACTS);
and the thread count compiled into the AOTInductor packages."""

from __future__ import annotations

from tvdeploy.host.devices import available_cores
from tvdeploy.measure.bench import bench_threads
from tvdeploy.plan.config import ConfigError
from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.registry import (
    BUILT_ARTIFACTS,
    DEVICE_ARTIFACTS,
    QUANTIZE_RULE,
    QUANTIZED_ARTIFACTS,
    TORCHSCRIPT,
    VARIANTS,
    WEIGHTS,
    built_variant,
    derived_variants,
    paths,
    runtime,
)

# config export.aoti.threads: the kernels follow the thread count set at run time, or the
# benchmarks' count is compiled in.
DYNAMIC_THREADS = "dynamic"
BENCH_THREADS = "bench"


def artifact(runtime_name: str, device: str, variant: str, model: str) -> str:
    """The file a runtime loads: the weights (eager) or the variant's export."""
    rt = runtime(runtime_name)
    if variant not in rt.variants:
        raise ConfigError(f"{runtime_name} has no variant '{variant}' (it has {', '.join(rt.variants)})")
    if rt.artifact == WEIGHTS:
        return paths.WEIGHTS.format(model=model)
    if rt.artifact in BUILT_ARTIFACTS:
        built = built_variant(variant)
        return paths.built_artifact(rt.artifact, built).format(device=device, variant=built, model=model)
    return paths.torchscript(device, variant, model)


def built_artifacts(cross: CrossProduct) -> list[str]:
    """The built artifact kinds (ONNX, OpenVINO IR, AOTInductor) the run's runtimes load, in
    registry order."""
    needed = {p.artifact for p in cross.placed()}
    return [kind for kind in BUILT_ARTIFACTS if kind in needed]


def artifact_builds(cross: CrossProduct, models: list[str]) -> dict[str, list[dict]]:
    """Wildcards of every built artifact folder of the run, by building rule: the float32 builds
    (registry BUILT_ARTIFACTS) and the calibrated variants quantized from them (QUANTIZE_RULE)."""
    builds = {}
    for kind in built_artifacts(cross):
        if kind in DEVICE_ARTIFACTS:
            built = [(p.device, built_variant(p.variant)) for p in cross.loading(kind)]
            wildcards = [{"device": d, "variant": v, "model": m} for d, v in dict.fromkeys(built) for m in models]
        else:
            wildcards = [{"model": m} for m in models]
        builds[BUILT_ARTIFACTS[kind]] = wildcards
    quantized = [
        {"artifact": kind, "variant": v, "model": m}
        for kind, v in dict.fromkeys(
            (p.artifact, p.variant)
            for p in cross.placed()
            if p.artifact in QUANTIZED_ARTIFACTS and VARIANTS[p.variant].calibrated
        )
        for m in models
    ]
    if quantized:
        builds[QUANTIZE_RULE] = quantized
    return builds


def derived_torchscript(cross: CrossProduct, models: list[str]) -> list[dict]:
    """Wildcards of every derived TorchScript variant file the run needs."""
    needed = {(p.device, p.variant) for p in cross.loading(TORCHSCRIPT)}
    return [
        {"device": d, "variant": v, "model": m}
        for d in cross.devices
        for v in derived_variants()
        if (d, v) in needed
        for m in models
    ]


def aoti_threads(config: dict, cores: int) -> int | None:
    """The thread count compiled into the AOTInductor packages (config export.aoti.threads):
    None for dynamic threads; with ``bench``, the count the benchmarks will run on when
    Snakemake has ``cores`` (the comparison jobs claim all of them, capped at this machine's)."""
    setting = config["export"]["aoti"]["threads"]
    if setting == DYNAMIC_THREADS:
        return None
    if setting == BENCH_THREADS:
        return bench_threads(config["bench"]["threads"], cores, available_cores())
    if isinstance(setting, int) and not isinstance(setting, bool) and setting >= 1:
        return setting
    raise ConfigError(f"export.aoti.threads: expected dynamic, bench or a count of at least 1, got {setting!r}")
