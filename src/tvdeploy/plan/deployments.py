"""The run's cross-product: every device × runtime × variant the config selects that the registry
allows, less the variants this machine's CPU cannot run natively. Each is a registry
``Deployment`` placed on a device, in registry order (devices as configured)."""

from __future__ import annotations

from dataclasses import dataclass

from tvdeploy.registry import RUNTIMES, VARIANTS, Deployment, runtime
from tvdeploy.registry.precisions import skip_reason


@dataclass(frozen=True)
class Placed:
    """One deployment of the run on one device."""

    device: str
    deployment: Deployment

    @property
    def runtime(self) -> str:
        return self.deployment.runtime

    @property
    def variant(self) -> str:
        return self.deployment.variant

    @property
    def artifact(self) -> str:
        """The kind of artifact it loads (registry ``Runtime.artifact``)."""
        return RUNTIMES[self.runtime].artifact

    @property
    def language(self) -> str:
        return RUNTIMES[self.runtime].language

    def astuple(self) -> tuple[str, str, str]:
        return self.device, self.runtime, self.variant


@dataclass(frozen=True)
class CrossProduct:
    devices: tuple[str, ...]
    runtimes: tuple[str, ...]
    variants: tuple[str, ...]
    # The CPU's instruction-set flags (tvdeploy.host.devices.read_cpu_flags).
    cpu_flags: frozenset[str] = frozenset()

    def skipped_variants(self, device: str) -> dict[str, str]:
        """The chosen variants this machine cannot run natively on ``device``, with the reason."""
        if device != "cpu":
            return {}
        reasons = {
            name: skip_reason(VARIANTS[name].precision, device, self.cpu_flags)
            for name in self.variants
            if VARIANTS[name].supports(device)
        }
        return {
            name: f"variant {name} skipped on the CPU: {reason} (emulated timings would mislead)"
            for name, reason in reasons.items()
            if reason
        }

    def unsupported(self, device: str) -> dict[str, str]:
        """The precisions of the chosen variants that a chosen runtime has no kernels for on
        ``device`` (registry ``Runtime.unsupported_precisions``), by "runtime at precision", with
        the reason. A precision this machine skips altogether is left to skipped_variants."""
        skipped = self.skipped_variants(device)
        chosen = dict.fromkeys(
            VARIANTS[v].precision for v in self.variants if v not in skipped and VARIANTS[v].supports(device)
        )
        return {
            f"{name} at {precision}": f"{name} at {precision} not run: {reason}"
            for name in self.runtimes
            if device in RUNTIMES[name].devices
            for precision in chosen
            if (reason := RUNTIMES[name].unsupported_precisions.get(precision))
        }

    def not_run(self, device: str) -> list[str]:
        """Why each chosen variant or deployment does not run on ``device``: the precisions this
        machine lacks, then the runtimes without kernels for one."""
        return [*self.skipped_variants(device).values(), *self.unsupported(device).values()]

    def runtime_variants(self, runtime_name: str, device: str) -> list[str]:
        """The variants ``runtime_name`` runs on ``device`` in this run, in registry order."""
        skipped = self.skipped_variants(device)
        return [v for v in runtime(runtime_name).variants_on(device, self.variants) if v not in skipped]

    def placed(self, language: str | None = None) -> list[Placed]:
        """Every deployment of the run on every device, optionally of one harness language."""
        return [
            Placed(d, Deployment(r, v))
            for d in self.devices
            for r in self.runtimes
            if language is None or RUNTIMES[r].language == language
            for v in self.runtime_variants(r, d)
        ]

    def on(self, device: str) -> list[Deployment]:
        """The deployments of the run on one device (one comparison job's workers)."""
        return [p.deployment for p in self.placed() if p.device == device]

    def loading(self, artifact: str) -> list[Placed]:
        """The deployments whose runtime loads an artifact of one kind."""
        return [p for p in self.placed() if p.artifact == artifact]
