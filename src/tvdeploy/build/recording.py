"""Running one build into its folder and recording the outcome: the build runs in a staging folder
within its time limit, and a failure of the model (not of the machine or of this code) becomes a
record with its class, the phase that failed naming it (export, conversion, compilation,
quantization), the folder then holding the record alone. The folder appears complete or not at all."""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import shutil
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from tvdeploy.build.records import BUILD_RECORD
from tvdeploy.files import atomic_directory, write_json_atomic
from tvdeploy.registry.failures import TIMEOUT, failure_fields


class BuildTimeout(TimeoutError):
    """A build ran past its time limit."""


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise BuildTimeout in the main thread once ``seconds`` passed (0: no limit). The signal is
    handled between Python bytecodes, so a long native call finishes before the timeout shows."""
    if seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise BuildTimeout(f"build took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class PhaseError(Exception):
    """Carries the failure class of the phase an error happened in (its __cause__)."""

    def __init__(self, error_class: str):
        super().__init__(error_class)
        self.error_class = error_class


@contextlib.contextmanager
def phase(error_class: str) -> Iterator[None]:
    try:
        yield
    except BuildTimeout:
        raise
    except Exception as err:
        if is_machine_failure(err):
            raise
        timeout = _wrapped_timeout(err)
        if timeout is not None:
            raise timeout from err
        raise PhaseError(error_class) from err


def _wrapped_timeout(error: BaseException) -> BuildTimeout | None:
    """The BuildTimeout an error was raised from, if any: onnx_ir's pass manager re-raises
    whatever a pass raised as a PassError (mvit_v2_s's ONNX export ran into its time limit inside
    a pass, and was recorded as an export error)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BuildTimeout):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


# The machine, not the model: a full disk or quota fails the job (and a rerun builds the model),
# instead of being recorded as this model's failure to deploy.
_MACHINE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def is_machine_failure(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in _MACHINE_ERRNOS:
        return True
    # Torch's C++ writers report a full disk as a RuntimeError with the C library's message.
    return any(os.strerror(code) in str(error) for code in _MACHINE_ERRNOS)


def build_provenance(info, weights_provenance: dict, timeout_s: float) -> dict:
    """What every build record says of what it was built from: the model and its input shape, the
    weights' provenance, the torch versions and the build's time limit."""
    from tvdeploy.host.environment import versions

    return {
        "model": info.model,
        "input_shape": list(info.input_shape),
        "weights": weights_provenance,
        "torch_versions": versions(),
        "timeout_s": timeout_s,
    }


def record_build(dest: str | os.PathLike, built: dict, build: Callable[[Path], dict], timeout_s: float, log) -> dict:
    """Run ``build`` (into a staging folder; returns what it reports) within ``timeout_s`` and
    record the outcome in ``built``, written as ``dest/build.json``: ok with the details, or failed
    with the class of the phase that failed (PhaseError), the timeout or the memory error, and the
    folder holding the record alone. ``dest`` appears complete or not at all."""
    # A failure of the machine (full disk) or of this code escapes: no folder, the job fails.
    with atomic_directory(dest) as staging:
        start = time.perf_counter()
        try:
            with time_limit(timeout_s):
                details = build(staging)
            built.update(status="ok", error_class=None, error=None, **details)
        except (PhaseError, BuildTimeout, MemoryError) as err:
            _record_failure(built, err, staging, built["artifact"], log)
        built.update(build_s=time.perf_counter() - start, peak_rss_mb=peak_rss_mb())
        write_json_atomic(staging / BUILD_RECORD, built)
    return built


def _record_failure(built: dict, err: BaseException, staging: Path, kind: str, log) -> None:
    """The model could not be built: its class and error go into the record, and nothing
    half-built stays (the folder will hold the record alone)."""
    cause = err.__cause__ if isinstance(err, PhaseError) else err
    phase_class = err.error_class if isinstance(err, PhaseError) else TIMEOUT
    if log is not None:
        log.error("building %s failed:\n%s", kind, "".join(traceback.format_exception(cause)))
    shutil.rmtree(staging)
    staging.mkdir()
    built.update(status="failed", **failure_fields(cause, phase_class, artifact=kind, model=built.get("model")))
