"""Reading a built artifact folder (``tvdeploy.build.exporters`` writes them): its build record and the
file a harness loads, or why there is none. Torch-free: the comparison's coordinator resolves
artifacts for the C++ programs without importing torch."""

from __future__ import annotations

import os
from pathlib import Path

from tvdeploy.files import read_json

BUILD_RECORD = "build.json"


class ArtifactUnavailable(RuntimeError):
    """The artifact a runtime should load was not built (its build record says why)."""

    def __init__(self, message: str, error_class: str):
        super().__init__(message)
        self.error_class = error_class


def read_build(folder: str | os.PathLike) -> dict:
    return read_json(Path(folder) / BUILD_RECORD)


def artifact_file(folder: str | os.PathLike) -> Path:
    """The file to load from a built artifact folder; ArtifactUnavailable when its build failed."""
    record = read_build(folder)
    if record["status"] != "ok":
        raise ArtifactUnavailable(
            f"the {record['artifact']} artifact was not built ({record['error_class']}): {record['error']}",
            record["error_class"],
        )
    return Path(folder) / record["file"]


class ThreadsMismatch(ValueError):
    """A package compiled for a fixed thread count asked to be timed under another."""


def check_baked_threads(folder: str | os.PathLike, device: str, threads: int) -> None:
    """A CPU AOTInductor package compiled for a fixed thread count (``cpp.threads`` in its
    record) runs on that count whatever the caller sets: timing it under another count would
    label the measurement wrongly, so that is refused."""
    baked = (read_build(folder).get("inductor_configs") or {}).get("cpp.threads")
    if device == "cpu" and baked and baked != threads:
        raise ThreadsMismatch(
            f"the AOTInductor package in {folder} was compiled for {baked} threads and this benchmark runs "
            f"{threads}: rebuild it (config export.aoti.threads) or set bench.threads to {baked}"
        )


def failure_of(record: dict) -> tuple[str | None, str | None]:
    """A build record's (error, error class): its own, or for a TorchScript variant that tried
    several graphs in turn (``attempts``: traced, then scripted), each attempt's error and the last
    one's class."""
    if record.get("error") or record.get("status", "ok") == "ok":
        return record.get("error"), record.get("error_class")
    tried = [attempt for attempt in record.get("attempts", []) if attempt.get("error")]
    if not tried:
        return None, None
    errors = "; ".join(f"{attempt['graph'].split(':')[0]}: {attempt['error']}" for attempt in tried)
    return errors, tried[-1].get("error_class")
