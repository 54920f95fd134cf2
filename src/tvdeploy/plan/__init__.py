"""What a run does, computed from the config: models, images, devices, the runtime × variant
combinations, target files, parity pairs and per-job facts. The rules (``workflow/rules``) are
wiring that calls a ``Plan``; everything here is unit-tested (``tests/plan/``).

``Plan`` holds the run's choices and composes one module per concern:

- ``config``: the checks the config's schema cannot express (``ConfigError``);
- ``deployments``: the device × runtime × variant cross-product, as registry ``Deployment`` values;
- ``inputs``: the selected models' catalog rows, preprocessing recipes and input files;
- ``artifacts``: what each deployment loads and the builds that make it;
- ``pairs``: parity pairs with their tolerances, and comparison pairs;
- ``run_folders``: this run's folder and the other runs copied in beside it;
- ``targets``: the files of a whole run and the jobs that keep a benchmark file, by rule;
- ``wildcards``: the rules' wildcard constraints;
- ``resources``: the memory and GPUs each job asks for.

Torch-free and fast: the Snakefile builds a ``Plan`` every time the workflow is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tvdeploy.catalog.sheet import ModelInfo, read_sheet
from tvdeploy.host.devices import machine_has_gpu, read_cpu_flags, resolve_devices
from tvdeploy.measure.bench import Protocol
from tvdeploy.plan import artifacts, inputs, pairs, resources, wildcards
from tvdeploy.plan import config as checks
from tvdeploy.plan.config import ConfigError, image_labels, list_clips, list_images
from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.plan.run_folders import RunFolders
from tvdeploy.plan.targets import Targets
from tvdeploy.plan.wildcards import alternation
from tvdeploy.registry import PLAIN, runtime, task
from tvdeploy.results import runs

__all__ = ["ConfigError", "Plan", "alternation", "list_clips", "list_images"]


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
    # The class (ImageNet WordNet id) of each image, where the images folder is labeled
    # (tvdeploy.plan.config.list_images): every classifier deployment's accuracy is measured on them.
    image_labels: dict[str, str] = field(default_factory=dict)
    # Video models' inputs (config ``clips``) and the one the benchmarks feed them (the first by name).
    clips: dict[str, Path] = field(default_factory=dict)
    bench_clip: str = ""
    # Optical-flow models' inputs (config ``pairs``): (first, second) image by pair name, and the
    # one the benchmarks feed them (the first by name).
    pairs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    bench_pair: str = ""

    @classmethod
    def from_config(
        cls, config: dict, repo_dir: str | Path = ".", has_gpu=machine_has_gpu, flags=read_cpu_flags
    ) -> Plan:
        repo_dir = Path(repo_dir)
        catalog = read_sheet(repo_dir / config["model_sheet"])
        models = checks.selected_models(config, catalog)
        protocol = checks.bench_protocol(config)
        checks.check_registry_names(config)
        images_dir = Path(config["images"])
        images_dir = images_dir if images_dir.is_absolute() else repo_dir / images_dir
        images = list_images(images_dir)
        bench_image = checks.bench_image(config, images)
        clips = checks.clips(config, catalog, models, repo_dir)
        pairs = checks.pairs(config, catalog, models, repo_dir)
        run = checks.run_label(config)
        return cls(
            run=run,
            config=config,
            catalog=catalog,
            models=models,
            images=images,
            image_labels=image_labels(images, images_dir),
            bench_image=bench_image,
            clips=clips,
            bench_clip=next(iter(clips), ""),
            pairs=pairs,
            bench_pair=next(iter(pairs), ""),
            devices=resolve_devices(config["devices"], has_gpu=has_gpu),
            runtimes=list(config["runtimes"]),
            variants=list(config["variants"]),
            protocol=protocol,
            cpu_flags=flags(),
        )

    # ---- the parts, built once from the fields above -----------------------------------------

    @cached_property
    def cross_product(self) -> CrossProduct:
        return CrossProduct(tuple(self.devices), tuple(self.runtimes), tuple(self.variants), self.cpu_flags)

    @cached_property
    def model_inputs(self) -> inputs.ModelInputs:
        return inputs.ModelInputs(
            self.catalog,
            tuple(self.models),
            self.images,
            self.bench_image,
            self.clips,
            self.bench_clip,
            self.pairs,
            self.bench_pair,
            tuple(self.float_references),
        )

    @cached_property
    def folders(self) -> RunFolders:
        batch_sizes = tuple(self.config["bench"]["batch_sizes"])
        return RunFolders(self.run, tuple(self.devices), batch_sizes, self._other_measurements)

    @cached_property
    def targets(self) -> Targets:
        batch_sizes = tuple(self.config["bench"]["batch_sizes"])
        spec_inputs = tuple((s, tuple(self.model_inputs.spec_inputs(s))) for s in self.specs)
        pair_specs = frozenset(s for s in self.specs if self.model_inputs.spec_takes_pairs(s))
        labelled = tuple(m for m in self.models if self.labels(m))
        unbatched = frozenset(m for m in self.models if not task(self.model(m).task).batches)
        pictured = tuple(m for m in self.models if task(self.model(m).task).output_picture)
        return Targets(
            self.cross_product,
            self.folders,
            tuple(self.models),
            spec_inputs,
            batch_sizes,
            pair_specs,
            labelled,
            unbatched,
            pictured,
            tuple(self.float_references),
        )

    # ---- per model ---------------------------------------------------------------------------

    def model(self, name: str) -> ModelInfo:
        """The catalog row of a model named in a target; unknown names fail with suggestions."""
        return self.model_inputs.model(name)

    def model_fields(self, name: str) -> dict:
        """A model's catalog row as plain values (a rule param, rebuilt with ModelInfo(**fields))."""
        return self.model_inputs.model_fields(name)

    def catalog_rows(self) -> dict[str, dict]:
        return {m: self.model_fields(m) for m in self.models}

    @property
    def specs(self) -> dict[str, dict]:
        """Preprocessing recipes of the selected models by spec id (models may share one)."""
        return self.model_inputs.specs

    def spec(self, spec_id: str) -> dict:
        return self.model_inputs.spec(spec_id)

    def dats(self, model: str) -> list[str]:
        return self.model_inputs.dats(model)

    def sidecars(self, model: str) -> list[str]:
        return self.model_inputs.sidecars(model)

    def expected_input(self, model: str) -> dict:
        return self.model_inputs.expected_input(model)

    def bench_dats(self, model: str) -> list[str]:
        """The .dat files of the benchmarks' model call (one per model argument, in order)."""
        return self.model_inputs.bench_dats(model)

    def calibration_dats(self, model: str) -> list[str]:
        """The inputs the model's int8 deployments are calibrated on (config calibration.inputs)."""
        return self.model_inputs.calibration_dats(model, self.config["calibration"]["inputs"])

    def bench_sidecars(self, model: str) -> list[str]:
        return self.model_inputs.bench_sidecars(model)

    def labels(self, model: str) -> list[str]:
        """The model's labels file, or none where its task names no classes."""
        return self.model_inputs.labels(model)

    def overhead_dat(self) -> str:
        """The harness-overhead probe (one tensor in) is fed the first model's benchmark input:
        its first argument where a call takes several."""
        return self.bench_dats(self.models[0])[0]

    def published_accuracy(self) -> dict[str, tuple[str, float | None]]:
        """Every catalog model's task and published accuracy by its task's metric, None where its
        weights publish none (tvdeploy.plan.inputs)."""
        return inputs.published_accuracy(self.catalog)

    def gmacs(self) -> dict[str, float]:
        """Multiply-accumulates per image (G) of every catalog model."""
        return inputs.gmacs(self.catalog)

    def tasks(self) -> dict[str, str]:
        """Every catalog model's task (tvdeploy.plan.inputs)."""
        return inputs.tasks(self.catalog)

    def quantized_models(self) -> list[str]:
        """The eager-quantized catalog models."""
        return inputs.quantized_models(self.catalog)

    def float_counterparts(self) -> dict[str, dict[str, str]]:
        """Every eager-quantized catalog model's float model, the weights it was made from and
        the float model's own weights (the runs copied in may have measured any of them)."""
        return {
            model: {
                "float_model": float_model,
                "made_from": self.catalog[model].unquantized_weights,
                "float_weights": self.catalog[float_model].weights,
            }
            for model, float_model in inputs.float_counterparts(self.catalog).items()
        }

    @cached_property
    def float_references(self) -> list[str]:
        """The float models of the selected eager-quantized ones that the config does not select:
        each one's eager predictions are made beside them, on the same inputs, for the agreement
        of a quantized model with its float model (tvdeploy.results.float_agreement)."""
        counterparts = inputs.float_counterparts(self.catalog)
        selected = [counterparts[m] for m in self.models if m in counterparts]
        return [m for m in dict.fromkeys(selected) if m not in self.models]

    @staticmethod
    def runtime_language(name: str) -> str:
        return runtime(name).language

    # ---- deployments -------------------------------------------------------------------------

    def runtime_variants(self, runtime_name: str, device: str) -> list[str]:
        return self.cross_product.runtime_variants(runtime_name, device)

    def skipped_variants(self, device: str) -> dict[str, str]:
        """The chosen variants this machine cannot run natively on ``device``, with the reason."""
        return self.cross_product.skipped_variants(device)

    def not_run(self) -> dict[str, list[str]]:
        """Why each chosen variant or deployment does not run, per device of the run: the
        precisions this machine lacks and the runtimes without kernels for one (the log at
        parse time, environment.json and the summary)."""
        return {device: reasons for device in self.devices if (reasons := self.cross_product.not_run(device))}

    def deployments(self, language: str | None = None) -> list[tuple[str, str, str]]:
        """Every (device, runtime, variant) of the run, optionally of one harness language."""
        return [p.astuple() for p in self.cross_product.placed(language)]

    def comparison_deployments(self, device: str) -> list[tuple[str, str]]:
        """The (runtime, variant) workers of one comparison job, in registry order."""
        return [(d.runtime, d.variant) for d in self.cross_product.on(device)]

    # ---- artifacts ---------------------------------------------------------------------------

    def artifact(self, runtime_name: str, device: str, variant: str, model: str) -> str:
        """The file a runtime loads: the weights (eager) or the variant's export."""
        return artifacts.artifact(runtime_name, device, variant, model)

    def built_artifacts(self) -> list[str]:
        """The built artifact kinds the run's runtimes load, in registry order."""
        return artifacts.built_artifacts(self.cross_product)

    def artifact_builds(self) -> dict[str, list[dict]]:
        """Wildcards of every built artifact folder of the run, by building rule."""
        return artifacts.artifact_builds(self.cross_product, self.models)

    def derived_torchscript(self) -> list[dict]:
        """Wildcards of every derived TorchScript variant file the run needs."""
        return artifacts.derived_torchscript(self.cross_product, self.models)

    def aoti_threads(self, cores: int) -> int | None:
        """The thread count compiled into the AOTInductor packages (None: dynamic)."""
        return artifacts.aoti_threads(self.config, cores)

    # ---- memory ------------------------------------------------------------------------------

    def export_mem_mb(self, model: str) -> int:
        return resources.export_mem_mb(self.model(model))

    def run_mem_mb(self, model: str, batch: int = 1) -> int:
        return resources.run_mem_mb(self.model(model), batch)

    def check_batch(self, model: str, batch: int) -> None:
        """ConfigError where ``model`` is asked for at a batch size its task does not take (a
        detector takes one image per call: batch 1 alone)."""
        if batch not in self.targets.model_batch_sizes(model):
            info = self.model(model)
            raise ConfigError(
                f"{model} is a {info.task} model, whose task takes one input per call: it is compared "
                f"at batch 1 alone, not at batch {batch}"
            )

    def comparison_mem_mb(self, device: str, model: str, batch: int) -> int:
        """Every worker of a comparison holds its own copy of the model at once."""
        return len(self.cross_product.on(device)) * self.run_mem_mb(model, batch)

    # ---- pairs -------------------------------------------------------------------------------

    def parity_rtol(self, device: str, variant: str, reference_variant: str = PLAIN) -> float:
        """The tolerance of ``variant`` against ``reference_variant`` (tvdeploy.plan.pairs)."""
        return pairs.parity_rtol(self.config["parity"], device, variant, reference_variant)

    def configured_reference(self, runtime_name: str) -> str | None:
        """The nearest runtime up the registry's reference chain that this run has."""
        return pairs.configured_reference(runtime_name, self.runtimes)

    def parity_pairs(self, device: str, model: str) -> list[dict]:
        """Each runtime against the one it should reproduce, with the tolerance and both files."""
        return [
            {
                "runtime": pair.candidate.runtime,
                "variant": pair.candidate.variant,
                "reference": pairs.reference_name(pair.reference),
                "rtol": pair.rtol,
                "reference_file": self.targets.prediction_file(device, pair.reference, model),
                "candidate_file": self.targets.prediction_file(device, pair.candidate, model),
            }
            for pair in pairs.parity_pairs(self.cross_product, self.config["parity"], device)
        ]

    def parity_inputs(self, device: str, model: str) -> list[str]:
        return sorted({p[k] for p in self.parity_pairs(device, model) for k in ("reference_file", "candidate_file")})

    def comparison_pairs(self, device: str) -> list[dict]:
        """The ratios one comparison job reports (tvdeploy.plan.pairs.comparison_pairs)."""
        return pairs.comparison_pairs(self.cross_product, device)

    # ---- runs --------------------------------------------------------------------------------

    def here(self, pattern: str) -> str:
        """A measurement's path pattern in this run's folder (the rules' outputs)."""
        return self.folders.here(pattern)

    def other_runs(self, root: str | Path = ".") -> list[str]:
        """Runs copied in from other machines (folders under results/runs/ besides this run's)."""
        return self.folders.other_runs(root)

    def other_measurements(self, root: str | Path = ".") -> dict[str, list[dict]]:
        """The raw per-job results of the other runs present, by kind; read, never produced."""
        return self.folders.other_measurements(root)

    def other_measurement_files(self, root: str | Path = ".") -> list[str]:
        return self.folders.other_measurement_files(root)

    def run_devices_batches(self, root: str | Path = ".") -> dict[tuple[str, str], list[int]]:
        """(run, device) → batch sizes, for this run and every other run present."""
        return self.folders.devices_batches(root)

    # ---- targets -----------------------------------------------------------------------------

    def prediction_items(self) -> list[dict]:
        return self.targets.prediction_items()

    def float_reference_items(self) -> list[dict]:
        """The eager predictions of the float references (float_references), per device."""
        return self.targets.reference_prediction_items()

    def comparison_files(self) -> list[str]:
        return self.targets.comparison_files()

    def overhead_files(self) -> list[str]:
        return self.targets.overhead_files()

    def parity_files(self) -> list[str]:
        return self.targets.parity_files()

    def provenance_files(self) -> dict[str, str]:
        return self.targets.provenance_files()

    def readme_figure_source(self) -> str:
        """The figure the README embeds: accuracy vs latency of this run's first device, batch 1."""
        return self.targets.readme_figure_source()

    def plot_files(self, root: str | Path = ".") -> list[str]:
        """Every figure of this run and of the runs copied in (tvdeploy.plan.targets)."""
        return self.targets.plot_files(root)

    def output_picture_files(self) -> list[str]:
        """What each drawn model's deployments produced, per device of this run (tvdeploy.plan.targets)."""
        return self.targets.output_picture_files()

    def model_predictions(self, device: str, model: str) -> list[dict]:
        """The prediction record of each deployment of ``model`` on ``device`` (runtime, variant, file)."""
        return self.targets.model_predictions(device, model)

    def tables(self) -> list[str]:
        return self.targets.tables()

    def job_wildcards(self) -> dict[str, list[dict]]:
        """Wildcards of every job of a whole run that has a Snakemake ``benchmark:`` file, by rule."""
        return self.targets.job_wildcards()

    # ---- wildcards ---------------------------------------------------------------------------

    def wildcard_constraints(self) -> dict[str, str]:
        return wildcards.wildcard_constraints(list(dict.fromkeys([*self.images, *self.clips, *self.pairs])))

    @staticmethod
    def runtimes_in(language: str) -> str:
        """Wildcard constraint: the runtimes whose harness is in ``language``."""
        return wildcards.runtimes_in(language)
