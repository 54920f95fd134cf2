"""Configure and build the C++ programs (``infer``, ``bench``) with CMake.

LibTorch from a pip wheel needs a few hints that CMake cannot find on its own,
especially for CUDA wheels on machines without a GPU: the CUDA toolkit root and
the ``libnvrtc`` shipped in the ``nvidia`` wheels.  This module detects them.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO

PROGRAMS = ("infer", "bench")
DEFAULT_BUILD_TYPE = "Release"
# Lines of build output quoted in a BuildError.
ERROR_TAIL_LINES = 60
# The CMake option that builds the programs without OpenVINO (cpp/CMakeLists.txt).
WITH_OPENVINO_OPTION = "TVDEPLOY_WITH_OPENVINO"
# A CUDA toolkit root must contain this header (checked to reject e.g. /usr/local,
# the grandparent of a /usr/local/bin/nvcc wrapper script).
CUDA_ROOT_MARKER = Path("include") / "cuda.h"
FALLBACK_CUDA_ROOT = Path("/usr/local/cuda")
NVRTC_ENV = "TVDEPLOY_NVRTC_LIBRARY"
CUDA_ROOT_ENVS = ("CUDA_HOME", "CUDA_PATH")


class BuildError(RuntimeError):
    """The C++ build cannot be configured or failed."""


class ForeignBinaryError(RuntimeError):
    """A C++ program was built for another CPU architecture than this machine's."""


# ELF e_machine values (System V ABI) of the architectures torch wheels exist for, and the names
# platform.machine() gives them.
ELF_MAGIC = b"\x7fELF"
ELF_MACHINE_OFFSET = 18
ELF_ARCHITECTURES = {0x3E: "x86_64", 0xB7: "aarch64", 0x15: "ppc64le", 0x16: "s390x"}
MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


def program_sources(source_dir: str | Path, program: str) -> list[str]:
    """The sources one program is built from: its own ``src/{program}.cpp``, the shared library
    (``include/``, ``src/lib/``) and the configure step's helpers (``cmake/``). With the
    CMakeLists.txt they are the inputs of the program's build rule, so editing bench.cpp rebuilds
    bench and never infer (nor what uses infer)."""
    source_dir = Path(source_dir)
    if program not in PROGRAMS:
        raise BuildError(f"unknown C++ program '{program}' (known: {', '.join(PROGRAMS)})")
    shared = [
        *(source_dir / "include").rglob("*.hpp"),
        *(source_dir / "src" / "lib").rglob("*.[ch]pp"),
        # What the configure step runs (the torchvision query) decides what gets compiled in.
        *(source_dir / "cmake").glob("*.py"),
    ]
    return sorted(str(p) for p in [*shared, source_dir / "src" / f"{program}.cpp"])


def _is_cuda_root(path: Path) -> bool:
    return (path / CUDA_ROOT_MARKER).is_file()


def find_cuda_root() -> Path:
    """CUDA toolkit root: $CUDA_HOME / $CUDA_PATH, else via nvcc on PATH, else /usr/local/cuda."""
    for env in CUDA_ROOT_ENVS:
        value = os.environ.get(env)
        if value:
            root = Path(value)
            if not _is_cuda_root(root):
                raise BuildError(
                    f"${env}={value} is not a CUDA toolkit root (no {CUDA_ROOT_MARKER} there); "
                    f"point {env} at the toolkit directory, e.g. /usr/local/cuda"
                )
            return root
    nvcc = shutil.which("nvcc")
    if nvcc:
        # <root>/bin/nvcc -> <root>; a wrapper script outside the toolkit fails the marker check.
        root = Path(nvcc).resolve().parent.parent
        if _is_cuda_root(root):
            return root
    if _is_cuda_root(FALLBACK_CUDA_ROOT):
        return FALLBACK_CUDA_ROOT
    raise BuildError(
        "torch is a CUDA build but no CUDA toolkit was found (checked $CUDA_HOME, $CUDA_PATH, "
        f"nvcc on PATH, {FALLBACK_CUDA_ROOT}); set CUDA_HOME to the toolkit root"
    )


def _nvrtc_rank(path: Path) -> tuple[int, int, str]:
    # Prefer real files over symlinks, then the most specific version suffix.
    version = path.name[len("libnvrtc.so") :]
    return (0 if path.is_symlink() else 1, len(re.findall(r"\d+", version)), path.name)


def _nvidia_package_dirs() -> list[Path]:
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.submodule_search_locations is None:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def find_nvrtc_library(search_dirs: Iterable[Path] | None = None) -> Path:
    """The libnvrtc shared library from the installed ``nvidia`` wheels (or $TVDEPLOY_NVRTC_LIBRARY)."""
    override = os.environ.get(NVRTC_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise BuildError(f"${NVRTC_ENV}={override} does not name an existing file")
        return path
    dirs = list(search_dirs) if search_dirs is not None else _nvidia_package_dirs()
    candidates = [
        p
        for d in dirs
        for p in d.glob("*/lib/libnvrtc.so*")
        if p.is_file() and not p.name.startswith("libnvrtc-builtins")
    ]
    if not candidates:
        where = ", ".join(str(d) for d in dirs) or "no 'nvidia' package installed"
        raise BuildError(
            f"torch is a CUDA build but libnvrtc.so* was not found under the nvidia wheels ({where}); "
            f"install the matching nvidia CUDA runtime wheels or set {NVRTC_ENV} to the library path"
        )
    return max(candidates, key=_nvrtc_rank)


def find_nlohmann_include_dir() -> Path:
    """Include directory of the ``nlohmann-json`` pip package (holds nlohmann/json.hpp)."""
    try:
        spec = importlib.util.find_spec("nlohmann_json")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            "the Python package 'nlohmann-json' is not installed (pip install nlohmann-json); "
            "it provides the nlohmann/json.hpp header"
        )
    for location in spec.submodule_search_locations:
        include = Path(location) / "include"
        if (include / "nlohmann" / "json.hpp").is_file():
            return include
    raise BuildError(
        f"package nlohmann_json at {list(spec.submodule_search_locations)} has no include/nlohmann/json.hpp"
    )


def find_openvino_cmake_dir() -> Path | None:
    """The CMake package of the ``openvino`` wheel (OpenVINOConfig.cmake), for openvino-cpp; None
    where the package is not installed (a GPU node's environment may lack it: the programs are
    then built without OpenVINO and refuse an IR with that reason)."""
    try:
        from openvino.utils import get_cmake_path
    except ModuleNotFoundError:
        return None
    path = Path(get_cmake_path())
    if not (path / "OpenVINOConfig.cmake").is_file():
        raise BuildError(f"the openvino package's CMake directory {path} has no OpenVINOConfig.cmake")
    return path


def cmake_configure_args(build_type: str = DEFAULT_BUILD_TYPE) -> list[str]:
    """The -D arguments CMake needs to find LibTorch (and CUDA pieces for CUDA wheels)."""
    import torch  # slow import: only when actually configuring
    import torch.utils

    args = [
        f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}",
        f"-DCMAKE_BUILD_TYPE={build_type}",
        f"-DNLOHMANN_JSON_INCLUDE_DIR={find_nlohmann_include_dir()}",
        # The Python that has torch finds torchvision's operator library and its libpython
        # (cpp/cmake/torchvision_ops.py), not whichever python3 CMake would find first.
        f"-DPython3_EXECUTABLE={sys.executable}",
    ]
    openvino_dir = find_openvino_cmake_dir()
    args += [f"-DOpenVINO_DIR={openvino_dir}"] if openvino_dir else [f"-D{WITH_OPENVINO_OPTION}=OFF"]
    if torch.version.cuda is not None:
        cuda_root = find_cuda_root()
        args += [
            f"-DCUDA_TOOLKIT_ROOT_DIR={cuda_root}",
            f"-DCUDA_nvrtc_LIBRARY={find_nvrtc_library()}",
        ]
        nvcc = cuda_root / "bin" / "nvcc"
        if nvcc.is_file():
            # Keep enable_language(CUDA) on the same toolkit; a different nvcc on PATH
            # makes Torch's config fail with "Found two conflicting CUDA versions".
            args.append(f"-DCMAKE_CUDA_COMPILER={nvcc}")
    return args


def _run(cmd: list[str], log: IO[str]) -> None:
    """Run cmd, streaming its combined output to log; BuildError with the tail on failure."""
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    tail: collections.deque[str] = collections.deque(maxlen=ERROR_TAIL_LINES)
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildError(f"cannot run {cmd[0]!r}: {exc}; is CMake installed and on PATH?") from exc
    with proc:
        for line in proc.stdout or ():
            log.write(line)
            tail.append(line)
        log.flush()
    if proc.returncode != 0:
        raise BuildError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- last {len(tail)} lines of output ---\n{''.join(tail)}"
        )


def build(
    source_dir: str | os.PathLike,
    build_dir: str | os.PathLike,
    jobs: int | None = None,
    log: IO[str] | None = None,
    targets: Iterable[str] = PROGRAMS,
) -> dict[str, Path]:
    """Configure and build ``targets`` (default: every program); return {name: path}."""
    targets = tuple(targets)
    unknown = sorted(set(targets) - set(PROGRAMS))
    if unknown or not targets:
        raise BuildError(f"unknown C++ program(s) {unknown or targets} (known: {', '.join(PROGRAMS)})")
    source = Path(source_dir).resolve()
    binary = Path(build_dir).resolve()
    out = log if log is not None else sys.stderr
    if not (source / "CMakeLists.txt").is_file():
        raise BuildError(f"{source} has no CMakeLists.txt")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise BuildError("cmake was not found on PATH; install CMake >= 3.18")
    if jobs is None:
        jobs = os.cpu_count() or 1
    if jobs < 1:
        raise BuildError(f"jobs must be >= 1, got {jobs}")
    binary.mkdir(parents=True, exist_ok=True)
    _run([cmake, "-S", str(source), "-B", str(binary), *cmake_configure_args()], out)
    _run([cmake, "--build", str(binary), "--parallel", str(jobs), "--target", *targets], out)
    programs = {name: binary / name for name in targets}
    missing = [str(p) for p in programs.values() if not p.is_file()]
    if missing:
        raise BuildError(f"build finished but expected programs are missing: {', '.join(missing)}")
    for path in programs.values():
        # A fresh mtime even when nothing was relinked: the rule ran, so its output is current.
        path.touch()
    return programs


def elf_architecture(path: str | os.PathLike) -> str:
    """The CPU architecture an ELF executable was built for (read from its header)."""
    with open(path, "rb") as stream:
        header = stream.read(ELF_MACHINE_OFFSET + 2)
    if len(header) < ELF_MACHINE_OFFSET + 2 or not header.startswith(ELF_MAGIC):
        raise ForeignBinaryError(f"{path} is not an ELF executable; rebuild it (snakemake --forcerun build_cpp)")
    byteorder = "little" if header[5] == 1 else "big"
    code = int.from_bytes(header[ELF_MACHINE_OFFSET : ELF_MACHINE_OFFSET + 2], byteorder)
    return ELF_ARCHITECTURES.get(code, f"ELF machine {code:#x}")


def check_runs_here(path: str | os.PathLike, machine: str | None = None) -> Path:
    """``path`` resolved, after checking it was built for this machine's CPU architecture.

    On a cluster the build job may land on another node type than the jobs running the program
    (e.g. x86_64 CPU nodes and aarch64 GPU nodes); exec would fail with a bare "Exec format
    error", so say what happened and how to rebuild instead.
    """
    resolved = Path(path).resolve()
    here = (machine or platform.machine()).lower()
    here = MACHINE_ALIASES.get(here, here)
    built_for = elf_architecture(resolved)
    if built_for != here:
        raise ForeignBinaryError(
            f"{resolved} was built for {built_for} but this node ({platform.node()}) is {here}: "
            "build the C++ programs on the node type that runs them, e.g. "
            "`snakemake --forcerun build_cpp --set-resources build_cpp:slurm_partition=<gpu partition>`"
        )
    return resolved
