"""What a run does, computed from the config: models, images, devices, the runtime × variant
combinations, target files, parity pairs and per-job facts. The rules (``workflow/rules``) are
wiring that calls this; everything here is unit-tested (``tests/test_plan.py``).

Torch-free and fast: the Snakefile builds a ``Plan`` every time the workflow is parsed.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from tvdeploy.build.cpp import PROGRAMS
from tvdeploy.catalog.sheet import ModelInfo, UnknownModelError, read_sheet, resolve_models
from tvdeploy.host.devices import available_cores, machine_has_gpu, read_cpu_flags, resolve_devices
from tvdeploy.measure.bench import Protocol, ProtocolError, bench_threads
from tvdeploy.plan import resources
from tvdeploy.registry import (
    BUILT_ARTIFACTS,
    CPP,
    DEVICE_ARTIFACTS,
    DEVICES,
    EAGER,
    PEER_REFERENCE,
    PLAIN,
    PYTHON,
    RUNTIMES,
    VARIANTS,
    WEIGHTS,
    built_variant,
    cross_language_pairs,
    derived_variants,
    paths,
    runtime,
    runtimes_in,
)
from tvdeploy.results import runs

# Files Pillow can open; fixed here so parsing does not import Pillow's plugins.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# The accuracy the accuracy-vs-latency figure plots.
TOP1_METRIC = "acc@1"
# The preprocessing spec id's shape (tvdeploy.catalog.sheet.preprocess_spec_id).
SPEC_PATTERN = r"r\d+_c\d+_[a-z]+_[a-z0-9]+(_noaa)?"
# Names are checked against the catalog by Plan.model(); a plain pattern keeps DAG building fast.
MODEL_PATTERN = r"[a-z0-9_]+"


class ConfigError(ValueError):
    """The configuration cannot describe a run (the message says what to change)."""


def list_images(folder: str | Path) -> dict[str, Path]:
    """Image files in ``folder`` by file stem, sorted; stems must be unique."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"images: '{folder}' is not a directory")
    images: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in images:
                raise ConfigError(f"images: {images[path.stem].name} and {path.name} share the name '{path.stem}'")
            images[path.stem] = path
    if not images:
        raise ConfigError(f"images: no image files ({', '.join(IMAGE_SUFFIXES)}) in '{folder}'")
    return images


def alternation(names) -> str:
    """A regular expression matching exactly one of ``names``."""
    return "|".join(re.escape(n) for n in names)


@dataclass
class Plan:
    config: dict
    catalog: dict[str, ModelInfo]
    models: list[str]
    images: dict[str, Path]
    bench_image: str
    devices: list[str]
    runtimes: list[str]
    variants: list[str]
    protocol: Protocol = field(repr=False)
    # This run's label: its measurements live under results/runs/<run>/ (tvdeploy.results.runs).
    run: str = field(default_factory=runs.run_label)
    # The CPU's instruction-set flags (tvdeploy.host.devices.read_cpu_flags): variants needing native
    # support the CPU lacks are skipped on it (skipped_variants says why).
    cpu_flags: frozenset[str] = field(default_factory=read_cpu_flags, repr=False)
    _other_measurements: dict[str, dict[str, list[dict]]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_config(
        cls, config: dict, repo_dir: str | Path = ".", has_gpu=machine_has_gpu, flags=read_cpu_flags
    ) -> Plan:
        repo_dir = Path(repo_dir)
        catalog = read_sheet(repo_dir / config["model_sheet"])
        try:
            models = resolve_models(config["models"], catalog)
        except UnknownModelError as err:
            raise ConfigError(str(err)) from None
        try:
            protocol = Protocol.from_config(config["bench"])
        except ProtocolError as err:
            raise ConfigError(str(err)) from None
        launches = config.get("compare", {}).get("launches", 1)
        if launches > protocol.rounds:
            raise ConfigError(f"compare.launches ({launches}) must not exceed bench.rounds ({protocol.rounds})")
        aoti = config.get("export", {}).get("aoti", {})
        if aoti.get("static_batch") and list(config["bench"]["batch_sizes"]) != [1]:
            raise ConfigError(
                f"export.aoti.static_batch compiles the AOTInductor packages for batch 1 only, but bench.batch_sizes "
                f"is {config['bench']['batch_sizes']}: set static_batch to false or batch_sizes to [1]"
            )
        for name in config["runtimes"]:
            if name not in RUNTIMES:
                raise ConfigError(f"runtimes: unknown runtime '{name}' (known: {', '.join(RUNTIMES)})")
        for name in config["variants"]:
            if name not in VARIANTS:
                raise ConfigError(f"variants: unknown variant '{name}' (known: {', '.join(VARIANTS)})")
        images_dir = Path(config["images"])
        images = list_images(images_dir if images_dir.is_absolute() else repo_dir / images_dir)
        bench_image = config["bench"].get("image") or next(iter(images))
        if bench_image not in images:
            raise ConfigError(f"bench.image: '{bench_image}' is not one of the images {sorted(images)}")
        try:
            run = runs.run_label(config.get("run"))
        except runs.RunLabelError as err:
            raise ConfigError(str(err)) from None
        return cls(
            run=run,
            config=config,
            catalog=catalog,
            models=models,
            images=images,
            bench_image=bench_image,
            devices=resolve_devices(config["devices"], has_gpu=has_gpu),
            runtimes=list(config["runtimes"]),
            variants=list(config["variants"]),
            protocol=protocol,
            cpu_flags=flags(),
        )

    # ---- per model ---------------------------------------------------------------------------

    def model(self, name: str) -> ModelInfo:
        """The catalog row of a model named in a target; unknown names fail with suggestions."""
        if name not in self.catalog:
            try:
                resolve_models([name], self.catalog)
            except UnknownModelError as err:
                raise ConfigError(str(err)) from None
        return self.catalog[name]

    def model_fields(self, name: str) -> dict:
        """A model's catalog row as plain values (a rule param, rebuilt with ModelInfo(**fields))."""
        return asdict(self.model(name))

    @staticmethod
    def runtime_language(name: str) -> str:
        return runtime(name).language

    @cached_property
    def specs(self) -> dict[str, dict]:
        """Preprocessing recipes of the selected models by spec id (models may share one)."""
        return {self.catalog[m].spec_id: self.catalog[m].preprocess_spec() for m in self.models}

    def spec(self, spec_id: str) -> dict:
        if spec_id not in self.specs:
            raise ConfigError(f"no selected model uses preprocessing spec '{spec_id}'")
        return self.specs[spec_id]

    def dats(self, model: str) -> list[str]:
        spec = self.model(model).spec_id
        return [paths.INPUT_DAT.format(spec=spec, image=image) for image in self.images]

    def sidecars(self, model: str) -> list[str]:
        spec = self.model(model).spec_id
        return [paths.INPUT_SIDECAR.format(spec=spec, image=image) for image in self.images]

    def bench_dat(self, model: str) -> str:
        return paths.INPUT_DAT.format(spec=self.model(model).spec_id, image=self.bench_image)

    def bench_sidecar(self, model: str) -> str:
        return paths.INPUT_SIDECAR.format(spec=self.model(model).spec_id, image=self.bench_image)

    def overhead_dat(self) -> str:
        """The harness-overhead probe is fed the first model's benchmark input."""
        return self.bench_dat(self.models[0])

    def artifact(self, runtime_name: str, device: str, variant: str, model: str) -> str:
        """The file a runtime loads: the weights (eager) or the variant's export."""
        rt = runtime(runtime_name)
        if variant not in rt.variants:
            raise ConfigError(f"{runtime_name} has no variant '{variant}' (it has {', '.join(rt.variants)})")
        if rt.artifact == WEIGHTS:
            return paths.WEIGHTS.format(model=model)
        if rt.artifact in BUILT_ARTIFACTS:
            return paths.built_artifact(rt.artifact).format(device=device, variant=built_variant(variant), model=model)
        return paths.torchscript(device, variant, model)

    def built_artifacts(self) -> list[str]:
        """The built artifact kinds (ONNX, OpenVINO IR, AOTInductor) the run's runtimes load, in
        registry order."""
        needed = {RUNTIMES[r].artifact for _, r, _ in self.deployments()}
        return [kind for kind in BUILT_ARTIFACTS if kind in needed]

    def artifact_builds(self) -> dict[str, list[dict]]:
        """Wildcards of every built artifact folder of the run, by building rule."""
        builds = {}
        for kind in self.built_artifacts():
            if kind in DEVICE_ARTIFACTS:
                built = [(d, built_variant(v)) for d, r, v in self.deployments() if RUNTIMES[r].artifact == kind]
                wildcards = [
                    {"device": d, "variant": v, "model": m} for d, v in dict.fromkeys(built) for m in self.models
                ]
            else:
                wildcards = [{"model": m} for m in self.models]
            builds[BUILT_ARTIFACTS[kind]] = wildcards
        return builds

    def aoti_threads(self, cores: int) -> int | None:
        """The thread count compiled into the AOTInductor packages (config export.aoti.threads):
        None for dynamic threads; with ``bench``, the count the benchmarks will run on when
        Snakemake has ``cores`` (the comparison jobs claim all of them, capped at this machine's)."""
        setting = self.config["export"]["aoti"]["threads"]
        if setting == "dynamic":
            return None
        if setting == "bench":
            return bench_threads(self.config["bench"]["threads"], cores, available_cores())
        if isinstance(setting, int) and not isinstance(setting, bool) and setting >= 1:
            return setting
        raise ConfigError(f"export.aoti.threads: expected dynamic, bench or a count of at least 1, got {setting!r}")

    def export_mem_mb(self, model: str) -> int:
        return resources.export_mem_mb(self.model(model))

    def run_mem_mb(self, model: str, batch: int = 1) -> int:
        return resources.run_mem_mb(self.model(model), batch)

    def parity_rtol(self, device: str, variant: str, reference_variant: str = PLAIN) -> float:
        """A variant compared against another variant may carry its own tolerance (half precision
        against float32). Float32 on CUDA gets ``cuda_rtol``: cuDNN runs float32 convolutions in
        TF32 by default on Ampere and later GPUs, and eager, frozen (conv+bn folded) and
        channels_last modules get different algorithms, ~3e-4 of the logits' scale apart (H100)."""
        parity = self.config["parity"]
        key = VARIANTS[variant].cross_variant_rtol_key
        if variant != reference_variant and key:
            return parity[key]
        return parity["cuda_rtol"] if device == "cuda" else parity["rtol"]

    # ---- combinations ------------------------------------------------------------------------

    def runtime_variants(self, runtime_name: str, device: str) -> list[str]:
        skipped = self.skipped_variants(device)
        return [v for v in runtime(runtime_name).variants_on(device, self.variants) if v not in skipped]

    def skipped_variants(self, device: str) -> dict[str, str]:
        """The chosen variants this machine cannot run natively on ``device``, with the reason."""
        if device != "cpu":
            return {}
        return {
            name: f"variant {name} skipped on the CPU: it has none of {', '.join(VARIANTS[name].native_cpu_flags)} "
            "(native support; emulated timings would mislead)"
            for name in self.variants
            if VARIANTS[name].native_cpu_flags and not set(VARIANTS[name].native_cpu_flags) & self.cpu_flags
        }

    def deployments(self, language: str | None = None) -> list[tuple[str, str, str]]:
        """Every (device, runtime, variant) of the run, optionally of one harness language."""
        return [
            (d, r, v)
            for d in self.devices
            for r in self.runtimes
            if language is None or RUNTIMES[r].language == language
            for v in self.runtime_variants(r, d)
        ]

    def derived_torchscript(self) -> list[dict]:
        """Wildcards of every derived TorchScript variant file the run needs."""
        needed = {(d, v) for d, r, v in self.deployments() if RUNTIMES[r].artifact == "torchscript"}
        return [
            {"device": d, "variant": v, "model": m}
            for d in self.devices
            for v in derived_variants()
            if (d, v) in needed
            for m in self.models
        ]

    def prediction_items(self) -> list[dict]:
        return [
            {
                "file": self.here(paths.PREDICTION).format(device=d, runtime=r, variant=v, model=m),
                "model": m,
                "runtime": r,
                "variant": v,
                "device": d,
            }
            for d, r, v in self.deployments()
            for m in self.models
        ]

    def comparison_files(self) -> list[str]:
        return [
            self.here(paths.COMPARISON).format(device=d, batch=b, model=m)
            for d in self.devices
            for b in self.config["bench"]["batch_sizes"]
            for m in self.models
        ]

    def comparison_deployments(self, device: str) -> list[tuple[str, str]]:
        """The (runtime, variant) workers of one comparison job, in registry order."""
        return [(r, v) for d, r, v in self.deployments() if d == device]

    def comparison_pairs(self, device: str) -> list[dict]:
        """The ratios that matter: every deployment vs eager; the same artifact in two languages
        (ts-cpp vs ts-python on the same .pt); each variant vs the plain export of its runtime;
        every deployment vs the peer runtime (ONNX Runtime) where the run has it."""
        present = set(self.comparison_deployments(device))
        pairs = []

        def add(kind, candidate, reference):
            if candidate in present and reference in present and candidate != reference:
                pairs.append({"kind": kind, "candidate": list(candidate), "reference": list(reference)})

        for runtime_name, variant_name in self.comparison_deployments(device):
            add("vs_eager", (runtime_name, variant_name), (EAGER, PLAIN))
        for cand, ref in cross_language_pairs():
            for variant_name in self.runtime_variants(cand, device):
                add("cross_language", (cand, variant_name), (ref, variant_name))
        for runtime_name, variant_name in self.comparison_deployments(device):
            if variant_name != PLAIN:
                add("vs_plain", (runtime_name, variant_name), (runtime_name, PLAIN))
        for runtime_name, variant_name in self.comparison_deployments(device):
            if runtime_name != EAGER:
                add("vs_peer", (runtime_name, variant_name), (PEER_REFERENCE, PLAIN))
        return pairs

    def comparison_mem_mb(self, device: str, model: str, batch: int) -> int:
        """Every worker of a comparison holds its own copy of the model at once."""
        return len(self.comparison_deployments(device)) * self.run_mem_mb(model, batch)

    def overhead_files(self) -> list[str]:
        return [self.here(paths.OVERHEAD).format(device=d, runtime=r) for d in self.devices for r in self.runtimes]

    def parity_files(self) -> list[str]:
        return [self.here(paths.PARITY).format(device=d, model=m) for d in self.devices for m in self.models]

    def provenance_files(self) -> dict[str, str]:
        return {m: paths.WEIGHTS_PROVENANCE.format(model=m) for m in self.models}

    # ---- parity ------------------------------------------------------------------------------

    def configured_reference(self, runtime_name: str) -> str | None:
        """The nearest runtime up the registry's reference chain that this run has."""
        ref = RUNTIMES[runtime_name].reference
        while ref is not None and ref not in self.runtimes:
            ref = RUNTIMES[ref].reference
        return ref

    def parity_pairs(self, device: str, model: str) -> list[dict]:
        """Each runtime against the one it should reproduce (registry ``reference``), on the same
        variant where the reference has it, else against the reference's plain model."""
        pairs = []
        for cand in self.runtimes:
            ref = self.configured_reference(cand)
            if ref is None:
                continue
            ref_variants = self.runtime_variants(ref, device)
            for variant in self.runtime_variants(cand, device):
                ref_variant = variant if variant in ref_variants else PLAIN
                pairs.append(
                    {
                        "runtime": cand,
                        "variant": variant,
                        # A reference running its artifact as built (eager) is named alone.
                        "reference": f"{ref}/{ref_variant}" if RUNTIMES[ref].names_variant(ref_variant) else ref,
                        "rtol": self.parity_rtol(device, variant, ref_variant),
                        "reference_file": self.here(paths.PREDICTION).format(
                            device=device, runtime=ref, variant=ref_variant, model=model
                        ),
                        "candidate_file": self.here(paths.PREDICTION).format(
                            device=device, runtime=cand, variant=variant, model=model
                        ),
                    }
                )
        return pairs

    def parity_inputs(self, device: str, model: str) -> list[str]:
        return sorted({p[k] for p in self.parity_pairs(device, model) for k in ("reference_file", "candidate_file")})

    # ---- runs --------------------------------------------------------------------------------

    def here(self, pattern: str) -> str:
        """A measurement's path pattern in this run's folder (the rules' outputs)."""
        return runs.in_run(pattern, self.run)

    def other_runs(self, root: str | Path = ".") -> list[str]:
        """Runs copied in from other machines (folders under results/runs/ besides this run's)."""
        return runs.other_runs(self.run, root)

    def other_measurements(self, root: str | Path = ".") -> dict[str, list[dict]]:
        """The raw per-job results of the other runs present, by kind; read, never produced.
        Found once per root: parsing asks for them several times (inputs, params, figures)."""
        key = str(root)
        if key not in self._other_measurements:
            self._other_measurements[key] = runs.measurements_of(self.other_runs(root), root)
        return self._other_measurements[key]

    def other_measurement_files(self, root: str | Path = ".") -> list[str]:
        return [item["path"] for items in self.other_measurements(root).values() for item in items]

    def run_devices_batches(self, root: str | Path = ".") -> dict[tuple[str, str], list[int]]:
        """(run, device) → batch sizes, for this run (from config) and every other run present
        (from its comparison files)."""
        found = {(self.run, d): sorted(self.config["bench"]["batch_sizes"]) for d in self.devices}
        for item in self.other_measurements(root)["comparisons"]:
            batches = found.setdefault((item["run"], item["device"]), [])
            if int(item["batch"]) not in batches:
                batches.append(int(item["batch"]))
                batches.sort()
        return found

    # ---- targets and accounting --------------------------------------------------------------

    def readme_figure_source(self) -> str:
        """The figure the README embeds: accuracy vs latency of this run's first device, batch 1."""
        batch = min(self.config["bench"]["batch_sizes"])
        return paths.PLOTS_PER_BATCH["accuracy"].format(run=self.run, device=self.devices[0], batch=batch)

    def plot_files(self, root: str | Path = ".") -> list[str]:
        """Every figure: per run, device and batch size; per run and device; and, once two runs
        or devices are present, the runs side by side per batch size."""
        present = self.run_devices_batches(root)
        files = [
            pattern.format(run=r, device=d, batch=b)
            for (r, d), batches in present.items()
            for b in batches
            for pattern in paths.PLOTS_PER_BATCH.values()
        ]
        files += [pattern.format(run=r, device=d) for (r, d) in present for pattern in paths.PLOTS_PER_DEVICE.values()]
        if len(present) > 1:
            shared = sorted({b for batches in present.values() for b in batches})
            files += [paths.PLOT_RUNS.format(batch=b) for b in shared]
        return files

    def accuracy(self) -> dict[str, float]:
        """Published ImageNet top-1 accuracy (%) of every catalog model whose task scores by it
        (torchvision metadata): other runs copied in may have measured models this run did not."""
        return {
            m: info.metric_value
            for m, info in self.catalog.items()
            if info.metric == TOP1_METRIC and not math.isnan(info.metric_value)
        }

    def gmacs(self) -> dict[str, float]:
        """Multiply-accumulates per image (G) of every catalog model (torchvision metadata), for
        the efficiency columns of this run and of runs copied in."""
        return {m: info.gflops for m, info in self.catalog.items() if not math.isnan(info.gflops)}

    def tables(self) -> list[str]:
        return list(paths.TABLES.values())

    def job_wildcards(self) -> dict[str, list[dict]]:
        """Wildcards of every job of a whole run that has a Snakemake ``benchmark:`` file, by rule
        (benchmarks carry their own job span instead; see tvdeploy.measure.bench.job_span)."""
        predictions = self.prediction_items()
        return {
            "build_cpp": [{"program": p} for p in PROGRAMS],
            "download_weights": [{"model": m} for m in self.models],
            "export_torchscript": [{"model": m} for m in self.models],
            "preprocess_image": [{"spec": s, "image": i} for s in self.specs for i in self.images],
            "derive_torchscript_variant": self.derived_torchscript(),
            **self.artifact_builds(),
            **{
                f"infer_{language}": [
                    {k: p[k] for k in ("device", "runtime", "variant", "model")}
                    for p in predictions
                    if RUNTIMES[p["runtime"]].language == language
                ]
                for language in (PYTHON, CPP)
            },
            "check_parity": [{"device": d, "model": m} for d in self.devices for m in self.models],
        }

    def catalog_rows(self) -> dict[str, dict]:
        return {m: self.model_fields(m) for m in self.models}

    def wildcard_constraints(self) -> dict[str, str]:
        return {
            "model": MODEL_PATTERN,
            "image": alternation(self.images),
            "spec": SPEC_PATTERN,
            "device": alternation(DEVICES),
            "runtime": alternation(RUNTIMES),
            "variant": alternation(VARIANTS),
            "batch": r"\d+",
            "run": runs.LABEL.pattern.strip("^$"),
        }

    @staticmethod
    def runtimes_in(language: str) -> str:
        """Wildcard constraint: the runtimes whose harness is in ``language``."""
        return alternation(runtimes_in(language))
