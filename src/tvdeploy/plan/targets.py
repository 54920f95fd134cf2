"""The files a whole run produces, as the rules' targets: predictions, comparisons, harness
overhead, parity checks, figures and tables; the wildcards of every job that keeps a Snakemake
``benchmark:`` file, by rule name; and the stage of every rule (where a run's time goes).

Rule names come from the registry where it has them (the built artifacts' rules, the inference
rules by harness language); the others are named once here, as in workflow/rules/*.smk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tvdeploy.build.cpp import PROGRAMS
from tvdeploy.plan.artifacts import artifact_builds, derived_torchscript
from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.plan.run_folders import RunFolders
from tvdeploy.registry import BUILT_ARTIFACTS, CPP, EAGER, PYTHON, QUANTIZE_RULE, Deployment, paths

BUILD_CPP = "build_cpp"
DOWNLOAD_WEIGHTS = "download_weights"
EXPORT_TORCHSCRIPT = "export_torchscript"
PREPROCESS_IMAGE = "preprocess_image"
PREPROCESS_PAIR = "preprocess_pair"
WRITE_LABELS = "write_labels"
DERIVE_TORCHSCRIPT_VARIANT = "derive_torchscript_variant"
CHECK_PARITY = "check_parity"
COMPARE = "compare"
HARNESS_OVERHEAD = "harness_overhead"
PLOT_OUTPUTS = "plot_outputs"
# The rules that measure nothing: they read results and write tables, figures and the summary
# (workflow/rules/aggregate.smk, report.smk). `make merge` runs only these over copied-in runs.
REPORT_RULES = (
    "aggregate",
    "plot_latency",
    "plot_speedup",
    "plot_accuracy",
    "plot_throughput",
    "plot_deployability",
    "plot_runs",
    PLOT_OUTPUTS,
    "summary",
)
# On a cluster these run on the submitting host: downloads need its network (compute nodes often
# have none), and the tables, figures and documents take seconds, less than a scheduler round trip.
DOCUMENT_RULES = ("catalog_doc", "readme_figure")
LOCAL_RULES = (DOWNLOAD_WEIGHTS, *REPORT_RULES, *DOCUMENT_RULES)
# Each harness language has its inference rule (workflow/rules/python.smk, cpp.smk).
INFER_LANGUAGES = (PYTHON, CPP)


# What a reference model (a quantized model's float model, Plan.float_references) is predicted by.
REFERENCE_DEPLOYMENT = Deployment(EAGER)
INFER_FLOAT_REFERENCE = "infer_float_reference"


def infer_rule(language: str) -> str:
    return f"infer_{language}"


# Where a run's wall time goes, in the order a run goes through them; every rule of the workflow
# has one (tests/plan/test_stages.py fails for a rule without), but the default target `all`.
DOWNLOADS = "downloads"
PREPROCESSING = "input preprocessing"
EXPORTS = "exports and conversions"
CPP_BUILDS = "C++ builds"
INFERENCE = "inference and parity"
BENCHMARKS = "comparisons and other benchmarks"
TABLES = "tables, figures and documents"
STAGES = (DOWNLOADS, PREPROCESSING, EXPORTS, CPP_BUILDS, INFERENCE, BENCHMARKS, TABLES)
RULE_STAGES = {
    DOWNLOAD_WEIGHTS: DOWNLOADS,
    PREPROCESS_IMAGE: PREPROCESSING,
    PREPROCESS_PAIR: PREPROCESSING,
    WRITE_LABELS: EXPORTS,
    EXPORT_TORCHSCRIPT: EXPORTS,
    DERIVE_TORCHSCRIPT_VARIANT: EXPORTS,
    **{rule: EXPORTS for rule in BUILT_ARTIFACTS.values()},
    QUANTIZE_RULE: EXPORTS,
    BUILD_CPP: CPP_BUILDS,
    **{infer_rule(language): INFERENCE for language in INFER_LANGUAGES},
    INFER_FLOAT_REFERENCE: INFERENCE,
    CHECK_PARITY: INFERENCE,
    COMPARE: BENCHMARKS,
    HARNESS_OVERHEAD: BENCHMARKS,
    "profile_ops": BENCHMARKS,
    **{rule: TABLES for rule in (*REPORT_RULES, *DOCUMENT_RULES)},
}


@dataclass(frozen=True)
class Targets:
    cross: CrossProduct
    folders: RunFolders
    models: tuple[str, ...]
    # The inputs each preprocessing spec id of the selected models preprocesses (its task's kind:
    # image stems, or clip names for a video spec).
    spec_inputs: tuple[tuple[str, tuple[str, ...]], ...]
    batch_sizes: tuple[int, ...]
    # The spec ids whose inputs are image pairs (rule preprocess_pair: one .dat per model argument).
    pair_specs: frozenset[str] = frozenset()
    # The models whose task names classes (rule write_labels); None: every model.
    labelled_models: tuple[str, ...] | None = None
    # The models whose task takes one input per call (registry Task.batches false: a detector's
    # image list): compared at batch 1 alone, whatever bench.batch_sizes lists.
    unbatched_models: frozenset[str] = frozenset()
    # The models whose task's outputs are drawn (registry Task.output_picture; rule plot_outputs).
    pictured_models: tuple[str, ...] = ()
    # Models predicted by eager alone, beside the selected ones (Plan.float_references).
    references: tuple[str, ...] = ()

    def model_batch_sizes(self, model: str) -> tuple[int, ...]:
        """The batch sizes ``model`` is compared at: bench.batch_sizes, or batch 1 alone for a
        model whose task does not batch."""
        return (1,) if model in self.unbatched_models else self.batch_sizes

    def prediction_file(self, device: str, deployment: Deployment, model: str) -> str:
        return self.folders.here(paths.PREDICTION).format(
            device=device, runtime=deployment.runtime, variant=deployment.variant, model=model
        )

    def prediction_items(self) -> list[dict]:
        return [
            {
                "file": self.prediction_file(p.device, p.deployment, m),
                "model": m,
                "runtime": p.runtime,
                "variant": p.variant,
                "device": p.device,
            }
            for p in self.cross.placed()
            for m in self.models
        ]

    def reference_prediction_items(self) -> list[dict]:
        """Each reference model's eager (plain) predictions on every device of the run."""
        return [
            {
                "file": self.folders.here(paths.FLOAT_REFERENCE).format(device=d, model=m),
                "model": m,
                "runtime": REFERENCE_DEPLOYMENT.runtime,
                "variant": REFERENCE_DEPLOYMENT.variant,
                "device": d,
            }
            for d in self.cross.devices
            for m in self.references
        ]

    def model_predictions(self, device: str, model: str) -> list[dict]:
        """The prediction record of each deployment of ``model`` on ``device``: runtime, variant, file."""
        return [
            {"runtime": p.runtime, "variant": p.variant, "file": self.prediction_file(device, p.deployment, model)}
            for p in self.cross.placed()
            if p.device == device
        ]

    def output_picture_files(self) -> list[str]:
        """The picture of what each drawn model's deployments produced, per device of this run
        (its predictions are this run's: runs copied in keep their own pictures)."""
        pattern = self.folders.here(paths.OUTPUT_PICTURE)
        return [pattern.format(device=d, model=m) for d in self.cross.devices for m in self.pictured_models]

    def comparison_files(self) -> list[str]:
        return [
            self.folders.here(paths.COMPARISON).format(device=d, batch=b, model=m)
            for d in self.cross.devices
            for b in self.batch_sizes
            for m in self.models
            if b in self.model_batch_sizes(m)
        ]

    def overhead_files(self) -> list[str]:
        pattern = self.folders.here(paths.OVERHEAD)
        return [pattern.format(device=d, runtime=r) for d in self.cross.devices for r in self.cross.runtimes]

    def parity_files(self) -> list[str]:
        pattern = self.folders.here(paths.PARITY)
        return [pattern.format(device=d, model=m) for d in self.cross.devices for m in self.models]

    def provenance_files(self) -> dict[str, str]:
        return {m: paths.WEIGHTS_PROVENANCE.format(model=m) for m in (*self.models, *self.references)}

    def readme_figure_source(self) -> str:
        """The figure the README embeds: accuracy vs latency of this run's first device, batch 1."""
        batch = min(self.batch_sizes)
        return paths.PLOTS_PER_BATCH["accuracy"].format(run=self.folders.run, device=self.cross.devices[0], batch=batch)

    def plot_files(self, root: str | Path = ".") -> list[str]:
        """Every figure: per run, device and batch size; per run and device; and, once two runs
        or devices are present, the runs side by side per batch size."""
        present = self.folders.devices_batches(root)
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

    @staticmethod
    def tables() -> list[str]:
        return list(paths.TABLES.values())

    def job_wildcards(self) -> dict[str, list[dict]]:
        """Wildcards of every job of a whole run that has a Snakemake ``benchmark:`` file, by rule
        (benchmarks carry their own job span instead; see tvdeploy.measure.bench.job_span)."""
        models = list(self.models)
        labelled = models if self.labelled_models is None else list(self.labelled_models)
        return {
            # The C++ programs are built only for a run with a C++ runtime.
            BUILD_CPP: [{"program": p} for p in PROGRAMS] if self.cross.placed(CPP) else [],
            DOWNLOAD_WEIGHTS: [{"model": m} for m in (*models, *self.references)],
            EXPORT_TORCHSCRIPT: [{"model": m} for m in models],
            # The references are classifiers: their predictions are decoded with their labels.
            WRITE_LABELS: [{"model": m} for m in (*labelled, *self.references)],
            **{
                rule: [
                    {"spec": s, "image": i}
                    for s, names in self.spec_inputs
                    for i in names
                    if pairs == (s in self.pair_specs)
                ]
                for rule, pairs in ((PREPROCESS_IMAGE, False), (PREPROCESS_PAIR, True))
            },
            DERIVE_TORCHSCRIPT_VARIANT: derived_torchscript(self.cross, models),
            **artifact_builds(self.cross, models),
            **{
                infer_rule(language): [
                    {"device": p.device, "runtime": p.runtime, "variant": p.variant, "model": m}
                    for p in self.cross.placed(language)
                    for m in models
                ]
                for language in INFER_LANGUAGES
            },
            INFER_FLOAT_REFERENCE: [{"device": d, "model": m} for d in self.cross.devices for m in self.references],
            CHECK_PARITY: [{"device": d, "model": m} for d in self.cross.devices for m in models],
        }
