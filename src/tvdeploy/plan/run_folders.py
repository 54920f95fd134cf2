"""This run's folder and the other runs beside it: measurements go to results/runs/<run>/
(tvdeploy.results.runs), and runs copied in from other machines are read, never produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tvdeploy.results import runs


@dataclass(frozen=True)
class RunFolders:
    run: str
    devices: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    # The other runs' measurements by root, found once: parsing asks for them several times.
    found: dict[str, dict[str, list[dict]]] = field(default_factory=dict, repr=False, compare=False)

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
        if key not in self.found:
            self.found[key] = runs.measurements_of(self.other_runs(root), root)
        return self.found[key]

    def other_measurement_files(self, root: str | Path = ".") -> list[str]:
        return [item["path"] for items in self.other_measurements(root).values() for item in items]

    def devices_batches(self, root: str | Path = ".") -> dict[tuple[str, str], list[int]]:
        """(run, device) → batch sizes, for this run (from config) and every other run present
        (from its comparison files)."""
        found = {(self.run, d): sorted(self.batch_sizes) for d in self.devices}
        for item in self.other_measurements(root)["comparisons"]:
            batches = found.setdefault((item["run"], item["device"]), [])
            if int(item["batch"]) not in batches:
                batches.append(int(item["batch"]))
                batches.sort()
        return found
