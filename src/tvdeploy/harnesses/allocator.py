"""The heap settings every benchmark process runs under, defined once: glibc malloc's mmap and trim
thresholds, given to each worker (Python or C++) in its environment as ``GLIBC_TUNABLES``.

Why the settings: glibc serves large blocks (every activation of a vision model) with mmap and
gives freed heap tops back to the kernel, so a process that runs the same forward again
page-faults and zeroes the same memory on every call. With these thresholds freed memory stays in
the process. The C++ bench measured 1.23x slower than the Python worker on the same TorchScript
file with glibc's defaults (mobilenet_v3_small, batch 1, 2 threads) and indistinguishable with
them; every harness gets them so that none pays an allocator cost the others do not.

Why the environment: glibc reads ``GLIBC_TUNABLES`` once, when a process starts (before LibTorch's
static initialisers allocate), the same way for Python and C++, and a tunable calls the setter
``mallopt`` calls (a fixed threshold, so glibc's dynamic threshold is off). glibc ignores a value
it does not accept without a word, so every worker reports what its environment asks for
(:func:`allocator_settings`) and the tests check the effect on page faults.

Torch-free: the comparison coordinator imports it.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Mapping

GLIBC_TUNABLES = "GLIBC_TUNABLES"
MMAP_THRESHOLD_TUNABLE = "glibc.malloc.mmap_threshold"
TRIM_THRESHOLD_TUNABLE = "glibc.malloc.trim_threshold"
# Blocks below this come from the heap: the highest glibc's own dynamic threshold goes on 64-bit
# (DEFAULT_MMAP_THRESHOLD_MAX).
MMAP_THRESHOLD_BYTES = 32 << 20
# Freed memory at the top of the heap is kept up to this much.
TRIM_THRESHOLD_BYTES = 1 << 30
BENCHMARK_TUNABLES = {MMAP_THRESHOLD_TUNABLE: MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_TUNABLE: TRIM_THRESHOLD_BYTES}


def benchmark_allocator() -> dict:
    """The settings for records: what every benchmark worker's ``allocator`` report says."""
    return {
        "library": "glibc",
        "mmap_threshold_bytes": MMAP_THRESHOLD_BYTES,
        "trim_threshold_bytes": TRIM_THRESHOLD_BYTES,
        "via": GLIBC_TUNABLES,
    }


def _entries(tunables: str) -> list[str]:
    return [entry for entry in tunables.split(":") if entry]


def _name(entry: str) -> str:
    return entry.partition("=")[0]


def _other_tunables(base: Mapping[str, str]) -> list[str]:
    """The entries of ``base``'s GLIBC_TUNABLES that are not the benchmark's, verbatim and in order."""
    return [entry for entry in _entries(base.get(GLIBC_TUNABLES, "")) if _name(entry) not in BENCHMARK_TUNABLES]


def benchmark_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a benchmark process: ``base`` with the benchmark's tunables, the other
    tunables ``base`` sets kept (the benchmark's own values replace any ``base`` gives them)."""
    ours = [f"{name}={value}" for name, value in BENCHMARK_TUNABLES.items()]
    return {**base, GLIBC_TUNABLES: ":".join([*_other_tunables(base), *ours])}


def glibc_default_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without the benchmark's tunables (others kept): glibc's own defaults, to measure
    what the settings change."""
    environment = {key: value for key, value in base.items() if key != GLIBC_TUNABLES}
    if others := _other_tunables(base):
        environment[GLIBC_TUNABLES] = ":".join(others)
    return environment


def _tunable_bytes(text: str | None) -> int | str | None:
    """A tunable's value as glibc reads it (decimal, 0x hex or 0-prefixed octal, as C's strtoull
    with base 0); text it cannot read is returned as given (glibc ignores it), None when unset."""
    if text is None:
        return None
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if re.fullmatch(r"0[0-7]*", text):
        return int(text, 8)
    if re.fullmatch(r"[1-9][0-9]*", text):
        return int(text)
    return text


def allocator_settings(environ: Mapping[str, str]) -> dict:
    """The malloc settings a process started with ``environ`` runs under, for its report: the
    thresholds its GLIBC_TUNABLES sets, None where glibc keeps its (dynamic) default. The form of
    :func:`benchmark_allocator` and of the C++ bench's report (cpp/src/lib/allocator.cpp)."""
    if platform.libc_ver()[0] != "glibc":
        return {"library": "system default"}
    tunables = {}
    for entry in _entries(environ.get(GLIBC_TUNABLES, "")):
        name, _, value = entry.partition("=")
        tunables[name] = value  # glibc applies them in order: the last one of a name counts
    mmap_threshold = _tunable_bytes(tunables.get(MMAP_THRESHOLD_TUNABLE))
    trim_threshold = _tunable_bytes(tunables.get(TRIM_THRESHOLD_TUNABLE))
    return {
        "library": "glibc",
        "mmap_threshold_bytes": mmap_threshold,
        "trim_threshold_bytes": trim_threshold,
        "via": "defaults" if mmap_threshold is None and trim_threshold is None else GLIBC_TUNABLES,
    }


def restart_under_benchmark_allocator() -> None:
    """Replace this process by the same command under the benchmark's settings, unless it already
    runs under them (or there is no glibc to set). glibc reads them only when a process starts,
    so a script that times in its own process calls this first, before it does anything."""
    if platform.libc_ver()[0] != "glibc" or allocator_settings(os.environ) == benchmark_allocator():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], benchmark_environment(os.environ))
