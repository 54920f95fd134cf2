"""Runs: every machine's measurements live under ``results/runs/<run>/``, so runs made elsewhere
(a cluster's GPU run beside a laptop's CPU run) can be copied in and compared.

A run's label comes from config (``run``) and defaults to the short host name. This run's files
are produced by the rules; another run's files are only read: they match no rule (their label is
not this run's), so Snakemake never measures them again. Torch-free.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

from tvdeploy.registry import paths

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class RunLabelError(ValueError):
    """A run label that cannot name a folder."""


def default_host(environ=os.environ) -> str:
    """The host the run was started on. Inside a SLURM job that is the submitting host: every job
    of a cluster run re-reads the workflow on its own node and must find the same run folder."""
    return environ.get("SLURM_SUBMIT_HOST") or socket.gethostname()


def run_label(configured: str | None = None, hostname: str | None = None) -> str:
    """The configured label, else the short name of the host the run was started on (``gpu01``
    of ``gpu01.cluster.org``)."""
    label = configured or (hostname or default_host()).split(".", 1)[0]
    if not LABEL.match(label):
        raise RunLabelError(
            f"run label '{label}' must be 1-64 letters, digits, '.', '_' or '-' and start with a letter or "
            "digit (set it with --config run=NAME)"
        )
    return label


def in_run(pattern: str, run: str) -> str:
    """A path pattern with this run's label filled in; the other wildcards stay."""
    return pattern.replace("{run}", run)


# What a wildcard of a path pattern matches where it is narrower than "anything but /".
WILDCARD_VALUES = {"model": paths.MODEL_PATTERN}


def _pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", pattern)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{WILDCARD_VALUES.get(part, '[^/]+')})"
        for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


def find(pattern: str, root: str | Path = ".") -> list[dict]:
    """Every file under ``root`` matching a path pattern, as its wildcards plus ``path`` (relative
    to ``root``), sorted by path."""
    root = Path(root)
    regex = _pattern_regex(pattern)
    glob = re.sub(r"\{\w+\}", "*", pattern)
    found = []
    for path in sorted(root.glob(glob)):
        relative = path.relative_to(root).as_posix()
        match = regex.match(relative)
        if match and path.is_file():
            found.append({**match.groupdict(), "path": relative})
    return found


def other_runs(run: str, root: str | Path = ".") -> list[str]:
    """Labels of the runs present under ``results/runs/`` besides ``run``."""
    runs_dir = Path(root) / paths.RUNS_DIR
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and p.name != run and LABEL.match(p.name))


def measurements_of(runs: list[str], root: str | Path = ".") -> dict[str, list[dict]]:
    """The raw per-job results of the given runs, by kind (keys of ``paths.MEASUREMENTS``)."""
    wanted = set(runs)
    return {
        kind: [item for item in find(pattern, root) if item["run"] in wanted]
        for kind, pattern in paths.MEASUREMENTS.items()
    }


# Where this layout's results lived before runs had folders.
LEGACY_DIRS = ("compare", "overhead", "predictions", "parity")


def migrate(run: str, root: str | Path = ".") -> list[tuple[Path, Path]]:
    """Move results from before run folders (``results/compare`` …) into ``results/runs/<run>/``.
    Files keep their modification times, so Snakemake sees nothing to redo. Refuses to mix into a
    run folder that already holds the same kind of results."""
    root = Path(root)
    moves = []
    for name in LEGACY_DIRS:
        source = root / "results" / name
        target = root / paths.RUNS_DIR / run / name
        if not source.is_dir():
            continue
        if target.exists():
            raise FileExistsError(f"{target} exists: move {source} by hand or choose another run label")
        moves.append((source, target))
    for source, target in moves:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), str(target))
    return moves


def configured_run(config_file: Path) -> str | None:
    """The ``run`` a config file sets, if any."""
    import yaml

    if not config_file.is_file():
        return None
    return (yaml.safe_load(config_file.read_text()) or {}).get("run") or None


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tvdeploy.results.runs",
        description="migrate: move results from before run folders (results/compare, overhead, predictions, "
        "parity) into results/runs/<run>/; label: print this run's label.",
    )
    parser.add_argument("command", choices=["migrate", "label"], help="label: print this run's label")
    parser.add_argument("--run", default=None, help="run label (default: config's run, else this host's short name)")
    parser.add_argument("--root", default=".", help="the workflow's folder")
    parser.add_argument("--configfile", default="config/config.yaml", help="where `run` is read from")
    args = parser.parse_args(argv)
    label = run_label(args.run or configured_run(Path(args.root) / args.configfile))
    if args.command == "label":
        print(label)
        return
    moves = migrate(label, args.root)
    if not moves:
        print("nothing to migrate: no results/compare, overhead, predictions or parity folder")
    for source, target in moves:
        print(f"moved {source} -> {target}")


if __name__ == "__main__":
    main()
