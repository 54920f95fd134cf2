"""The selected models as the jobs see them: their catalog rows, their preprocessing recipes
(models may share one) and the preprocessed input files they are fed; and the published figures
(accuracy, multiply-accumulates) of every catalog model, for the tables and figures."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.inputs.fit import expected_input
from tvdeploy.plan.config import ConfigError, find_model
from tvdeploy.registry import CLIP, IMAGE_PAIR, TASKS, paths


@dataclass(frozen=True, eq=False)
class ModelInputs:
    catalog: dict[str, ModelInfo]
    models: tuple[str, ...]
    images: dict[str, Path]
    bench_image: str
    # Video models' inputs (empty when no clip folder is configured; Plan refuses a video model then).
    clips: dict[str, Path] = field(default_factory=dict)
    bench_clip: str = ""
    # Optical-flow models' inputs, (first, second) image by pair name (empty when no pair folder is
    # configured; Plan refuses an optical-flow model then), and the pair the benchmarks feed.
    pairs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    bench_pair: str = ""
    # Models predicted beside the selected ones though not selected (the float models of the
    # selected eager-quantized ones: float_counterparts): their recipes are preprocessed too.
    references: tuple[str, ...] = ()

    @property
    def preprocessed_models(self) -> tuple[str, ...]:
        """The selected models, then the references: every model whose inputs are preprocessed."""
        return (*self.models, *self.references)

    def input_kind(self, model: str) -> str:
        return TASKS[self.model(model).task].input_kind

    def takes_clips(self, model: str) -> bool:
        return self.input_kind(model) == CLIP

    def takes_pairs(self, model: str) -> bool:
        return self.input_kind(model) == IMAGE_PAIR

    def inputs_of(self, model: str) -> dict[str, Path | tuple[Path, Path]]:
        """The user inputs a model is fed by name: the clips for a video model, the pairs for an
        optical-flow model, else the images."""
        kind = self.input_kind(model)
        return self.clips if kind == CLIP else self.pairs if kind == IMAGE_PAIR else self.images

    def spec_model(self, spec_id: str) -> str:
        """A selected model preprocessed with a spec (its models share the task, so the inputs)."""
        self.spec(spec_id)  # ConfigError unless a selected model uses it
        return next(m for m in self.preprocessed_models if self.catalog[m].spec_id == spec_id)

    def spec_inputs(self, spec_id: str) -> dict[str, Path | tuple[Path, Path]]:
        """The user inputs preprocessed with a spec (one of its models' inputs_of)."""
        return self.inputs_of(self.spec_model(spec_id))

    def spec_takes_pairs(self, spec_id: str) -> bool:
        """Whether a spec preprocesses image pairs (rule preprocess_pair), not one file per input."""
        return self.takes_pairs(self.spec_model(spec_id))

    def input_file(self, spec_id: str, name: str) -> Path | tuple[Path, Path]:
        """The user's file (or frame folder; for a pair its two files) of input ``name`` under
        spec ``spec_id``."""
        inputs = self.spec_inputs(spec_id)
        if name not in inputs:
            raise ConfigError(f"preprocessing spec '{spec_id}' has no input '{name}' (its inputs: {sorted(inputs)})")
        return inputs[name]

    def input_names(self, model: str) -> tuple[str, ...]:
        """The model's arguments, one .dat each per call (its task's input_names)."""
        return TASKS[self.model(model).task].input_names

    def labels(self, model: str) -> list[str]:
        """The labels file a model's predictions decode with, where its task names classes; none
        for a task whose outputs name no classes (optical flow)."""
        return [paths.LABELS.format(model=model)] if TASKS[self.model(model).task].has_labels else []

    def model(self, name: str) -> ModelInfo:
        """The catalog row of a model named in a target; unknown names fail with suggestions."""
        return find_model(self.catalog, name)

    def model_fields(self, name: str) -> dict:
        """A model's catalog row as plain values (a rule param, rebuilt with ModelInfo(**fields))."""
        return asdict(self.model(name))

    @cached_property
    def specs(self) -> dict[str, dict]:
        """Preprocessing recipes of the selected models and the references by spec id."""
        return {self.catalog[m].spec_id: self.catalog[m].preprocess_spec() for m in self.preprocessed_models}

    def spec(self, spec_id: str) -> dict:
        if spec_id not in self.specs:
            raise ConfigError(f"no selected model uses preprocessing spec '{spec_id}'")
        return self.specs[spec_id]

    def call_files(self, model: str, name: str, *, sidecars: bool = False) -> list[str]:
        """The .dat files (``sidecars``: their sidecars) of one model call on input ``name``, one
        per model argument in the task's input_names order (paths.input_dats)."""
        return paths.input_dats(self.model(model).spec_id, name, self.input_names(model), sidecars=sidecars)

    def dats(self, model: str) -> list[str]:
        """Every call's .dat files in a row (what infer takes: paths.group_call_inputs)."""
        return [dat for name in self.inputs_of(model) for dat in self.call_files(model, name)]

    def sidecars(self, model: str) -> list[str]:
        return [meta for name in self.inputs_of(model) for meta in self.call_files(model, name, sidecars=True)]

    def expected_input(self, model: str) -> dict:
        """What a model's inputs must be (tvdeploy.inputs.fit.check_inputs_fit's arguments)."""
        return expected_input(self.model(model))

    def bench_input(self, model: str) -> str:
        """The input the benchmarks feed a model: the bench image, or a video model's bench clip,
        or an optical-flow model's bench pair."""
        kind = self.input_kind(model)
        return self.bench_clip if kind == CLIP else self.bench_pair if kind == IMAGE_PAIR else self.bench_image

    def bench_dats(self, model: str) -> list[str]:
        """The .dat files of the benchmarks' model call, one per model argument in order."""
        return self.call_files(model, self.bench_input(model))

    def calibration_dats(self, model: str, count: int) -> list[str]:
        """What every int8 path of a model calibrates on: the .dat files of its first ``count``
        inputs by name (all of them where it has fewer), each call's files in a row."""
        return [dat for name in list(self.inputs_of(model))[:count] for dat in self.call_files(model, name)]

    def bench_sidecars(self, model: str) -> list[str]:
        return self.call_files(model, self.bench_input(model), sidecars=True)


def published_accuracy(catalog: dict[str, ModelInfo]) -> dict[str, tuple[str, float | None]]:
    """Every catalog model's task and the accuracy its torchvision weights publish by that task's
    metric (None where they publish none), for the accuracy-vs-latency figure and the summary's
    Pareto fronts: one panel and one front per task, since an ImageNet top-1, a Kinetics-400 top-1
    and a Sintel EPE are no points on one axis. Every catalog model, as other runs copied in may
    have measured models this run did not."""
    return {m: (info.task, _published_value(info)) for m, info in catalog.items()}


def _published_value(info: ModelInfo) -> float | None:
    """The model's published accuracy by its task's metric; None where the weights publish none
    (NaN in the sheet), or another metric that the task's axis cannot hold."""
    if info.metric != TASKS[info.task].accuracy_metric or math.isnan(info.metric_value):
        return None
    return info.metric_value


def tasks(catalog: dict[str, ModelInfo]) -> dict[str, str]:
    """Every catalog model's task: the tables' task column, for this run's models and those of runs
    copied in."""
    return {m: info.task for m, info in catalog.items()}


def quantized_models(catalog: dict[str, ModelInfo]) -> list[str]:
    """The eager-quantized catalog models (int8: their efficiency is judged against the int8 peak)."""
    return [m for m, info in catalog.items() if info.quantized]


def float_counterparts(catalog: dict[str, ModelInfo]) -> dict[str, str]:
    """Each eager-quantized catalog model's float model: the one whose weights enum holds the
    weights it was made from (its weights' meta "unquantized", the sheet's unquantized_weights).
    That float model's own weights in the sheet (its DEFAULT) may be a later recipe: compare
    ``catalog[float].weights`` with ``unquantized_weights``. ValueError where no catalog model
    has that enum (a sheet from another torchvision)."""
    by_enum = {info.weights.split(".")[0]: m for m, info in catalog.items() if not info.quantized}
    counterparts = {}
    for model, info in catalog.items():
        if not info.quantized:
            continue
        enum = info.unquantized_weights.split(".")[0]
        if enum not in by_enum:
            raise ValueError(
                f"{model}: its weights were made from {info.unquantized_weights or 'unknown weights'}, "
                "whose model is not in the model sheet; regenerate it (make model-sheet)"
            )
        counterparts[model] = by_enum[enum]
    return counterparts


def gmacs(catalog: dict[str, ModelInfo]) -> dict[str, float]:
    """Multiply-accumulates per image (G) of every catalog model (torchvision metadata), for
    the efficiency columns of this run and of runs copied in."""
    return {m: info.gflops for m, info in catalog.items() if not math.isnan(info.gflops)}
