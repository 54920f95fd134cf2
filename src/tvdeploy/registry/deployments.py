"""A deployment: one runtime running one variant of a model's artifact. The one value plan,
comparison, tables, plots and goals name a deployment by, with one key (records on disk) and one
label (tables and figures); nothing parses a label back."""

from __future__ import annotations

from dataclasses import dataclass

from tvdeploy.registry.runtimes import RUNTIMES
from tvdeploy.registry.variants import PLAIN, VARIANTS

KEY_SEPARATOR = "/"


@dataclass(frozen=True)
class Deployment:
    runtime: str
    variant: str = PLAIN

    def __post_init__(self):
        if self.runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime '{self.runtime}' (known: {', '.join(RUNTIMES)})")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant '{self.variant}' (known: {', '.join(VARIANTS)})")

    @property
    def key(self) -> str:
        """How records name it: ``runtime/variant`` (comparison records' candidate and reference)."""
        return f"{self.runtime}{KEY_SEPARATOR}{self.variant}"

    @classmethod
    def from_key(cls, key: str) -> Deployment:
        runtime, separator, variant = key.partition(KEY_SEPARATOR)
        if not separator:
            raise ValueError(f"'{key}' is not a deployment key (runtime{KEY_SEPARATOR}variant)")
        return cls(runtime, variant)

    @classmethod
    def from_name(cls, name: str) -> Deployment:
        """The deployment a parity record names as its reference: by its key, or by its runtime
        alone where it runs its artifact as built (plan.pairs.reference_name)."""
        return cls.from_key(name) if KEY_SEPARATOR in name else cls(name)

    @property
    def label(self) -> str:
        """How tables and figures name it: the runtime alone where it runs its artifact as built."""
        if not RUNTIMES[self.runtime].names_variant(self.variant):
            return self.runtime
        return f"{self.runtime} ({self.variant})"

    @property
    def order(self) -> tuple[int, int]:
        """Registry order: by runtime, then by variant."""
        return list(RUNTIMES).index(self.runtime), list(VARIANTS).index(self.variant)

    def __str__(self) -> str:
        return self.label


def in_registry_order(deployments) -> list[Deployment]:
    return sorted(deployments, key=lambda d: d.order)


def column_label(runtime_name: str, variant_name: str) -> str:
    """The label of (runtime, variant), for tables built column by column."""
    return Deployment(runtime_name, variant_name).label


def deployments_of(frame) -> list[Deployment]:
    """One Deployment per row of a table with ``runtime`` and ``variant`` columns."""
    return [Deployment(r, v) for r, v in zip(frame["runtime"], frame["variant"], strict=True)]


def ordered_labels(deployments) -> list[str]:
    """The distinct labels of ``deployments`` in registry order (tables' column order)."""
    return [d.label for d in in_registry_order(set(deployments))]
