"""Tests of the C++ build: the CMake helper (tvdeploy.build.cpp), the CMake project and the build_cpp script.

The session fixture cpp_binaries (conftest.py) compiles both programs once (a minute or more on 2 cores).
"""

from __future__ import annotations

import os
import platform
import runpy
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from conftest import REPO_ROOT
from cpp_helpers import RUN_TIMEOUT_S

from tvdeploy.build import cpp as cppbuild
from tvdeploy.build.cpp import (
    BuildError,
    ForeignBinaryError,
    build,
    check_runs_here,
    cmake_configure_args,
    elf_architecture,
)

CPP_SOURCE_DIR = REPO_ROOT / "cpp"
BUILD_SCRIPT = REPO_ROOT / "workflow" / "scripts" / "build_cpp.py"
BUILD_JOBS = 2


def test_configure_args_point_at_torch_and_json():
    import torch.utils

    args = cmake_configure_args()
    assert f"-DCMAKE_PREFIX_PATH={torch.utils.cmake_prefix_path}" in args
    assert "-DCMAKE_BUILD_TYPE=Release" in args
    assert "-DCMAKE_BUILD_TYPE=Debug" in cmake_configure_args("Debug")
    (json_dir,) = [a.split("=", 1)[1] for a in args if a.startswith("-DNLOHMANN_JSON_INCLUDE_DIR=")]
    assert (Path(json_dir) / "nlohmann" / "json.hpp").is_file()


def test_configure_args_cuda_flags_iff_cuda_build():
    args = cmake_configure_args()
    values = dict(a[2:].split("=", 1) for a in args if a.startswith("-D"))
    has_cuda_flags = "CUDA_TOOLKIT_ROOT_DIR" in values and "CUDA_nvrtc_LIBRARY" in values
    assert has_cuda_flags == (torch.version.cuda is not None)
    if torch.version.cuda is not None:
        nvrtc = Path(values["CUDA_nvrtc_LIBRARY"])
        assert nvrtc.is_file()
        assert nvrtc.name.startswith("libnvrtc.so")
        assert (Path(values["CUDA_TOOLKIT_ROOT_DIR"]) / "include" / "cuda.h").is_file()
    else:
        assert not any(k.startswith("CUDA") for k in values)


def test_nvrtc_search_prefers_versioned_real_file(tmp_path, monkeypatch):
    monkeypatch.delenv(cppbuild.NVRTC_ENV, raising=False)
    lib = tmp_path / "cu99" / "lib"
    lib.mkdir(parents=True)
    real = lib / "libnvrtc.so.99.1.2"
    real.write_bytes(b"\0")
    (lib / "libnvrtc.so.99").symlink_to(real.name)
    (lib / "libnvrtc.so").symlink_to(real.name)
    (lib / "libnvrtc-builtins.so.99.1").write_bytes(b"\0")
    assert cppbuild.find_nvrtc_library([tmp_path]) == real
    with pytest.raises(BuildError, match=cppbuild.NVRTC_ENV):
        cppbuild.find_nvrtc_library([tmp_path / "empty"])


def test_cuda_root_env_must_be_a_toolkit(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    with pytest.raises(BuildError, match="CUDA_HOME"):
        cppbuild.find_cuda_root()


def test_build_rejects_dir_without_cmakelists(tmp_path):
    with pytest.raises(BuildError, match="CMakeLists.txt"):
        build(tmp_path, tmp_path / "build")


def test_cmake_reports_missing_json_headers(tmp_path):
    empty = tmp_path / "no-json-here"
    empty.mkdir()
    proc = subprocess.run(
        ["cmake", "-S", str(CPP_SOURCE_DIR), "-B", str(tmp_path / "build"), f"-DNLOHMANN_JSON_INCLUDE_DIR={empty}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode != 0
    assert "nlohmann/json" in proc.stderr and str(empty) in proc.stderr


def test_without_the_openvino_package_the_programs_are_built_without_openvino(monkeypatch, tmp_path):
    # As if not installed, also where an earlier test imported it.
    for module in ("openvino", "openvino.utils"):
        monkeypatch.setitem(sys.modules, module, None)
    args = cmake_configure_args()
    assert f"-D{cppbuild.WITH_OPENVINO_OPTION}=OFF" in args
    assert not any(a.startswith("-DOpenVINO_DIR=") for a in args)
    # CMake takes it without an OpenVINO package and builds the version that refuses an IR.
    build_dir = tmp_path / "build"
    proc = subprocess.run(
        ["cmake", "-S", str(CPP_SOURCE_DIR), "-B", str(build_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    sources = (build_dir / "CMakeFiles" / "tvdeploy_core.dir" / "build.make").read_text()
    assert "openvino_unavailable.cpp" in sources and "openvino_model.cpp" not in sources


@pytest.mark.slow
def test_build_returns_both_programs(cpp_binaries):
    assert set(cpp_binaries) == {"infer", "bench"}
    for path in cpp_binaries.values():
        assert path.is_file() and os.access(path, os.X_OK)


@pytest.mark.slow
@pytest.mark.parametrize("program", ["infer", "bench"])
def test_snakemake_build_script_builds_one_program(cpp_binaries, tmp_path, program):
    # Re-running in the fixture's build dir is an incremental (near no-op) build of one target.
    build_dir = cpp_binaries["infer"].parent
    stale = time.time() - 3600
    for path in cpp_binaries.values():
        os.utime(path, (stale, stale))
    log = tmp_path / "build.log"
    dest = tmp_path / "bin" / program
    fake = SimpleNamespace(
        input=SimpleNamespace(cmakelists=str(CPP_SOURCE_DIR / "CMakeLists.txt")),
        params=SimpleNamespace(build_dir=str(build_dir)),
        wildcards=SimpleNamespace(program=program),
        output=[str(dest)],
        threads=BUILD_JOBS,
        log=[str(log)],
    )
    runpy.run_path(str(BUILD_SCRIPT), init_globals={"snakemake": fake})
    assert f"--target {program}" in log.read_text()
    assert dest.is_file() and os.access(dest, os.X_OK) and dest.stat().st_mtime > stale + 60
    other = "bench" if program == "infer" else "infer"
    assert cpp_binaries[other].stat().st_mtime < stale + 60  # the other program is left alone


def test_program_sources_separate_the_programs():
    from tvdeploy.build.cpp import program_sources

    bench, infer = program_sources(CPP_SOURCE_DIR, "bench"), program_sources(CPP_SOURCE_DIR, "infer")
    assert str(CPP_SOURCE_DIR / "src" / "bench.cpp") in bench and str(CPP_SOURCE_DIR / "src" / "bench.cpp") not in infer
    shared = set(bench) & set(infer)
    assert str(CPP_SOURCE_DIR / "src" / "lib" / "measure.cpp") in shared
    assert str(CPP_SOURCE_DIR / "include" / "tvdeploy" / "timing.hpp") in shared
    with pytest.raises(BuildError, match="unknown C\\+\\+ program 'serve'"):
        program_sources(CPP_SOURCE_DIR, "serve")


@pytest.mark.slow
def test_programs_are_checked_against_this_machines_architecture(cpp_binaries, tmp_path):
    bench = cpp_binaries["bench"]
    assert elf_architecture(bench) == platform.machine()
    assert check_runs_here(bench) == bench.resolve()
    other = "aarch64" if platform.machine() == "x86_64" else "x86_64"
    with pytest.raises(ForeignBinaryError, match=f"built for {platform.machine()} but this node .* is {other}"):
        check_runs_here(bench, machine=other)


def test_a_binary_of_another_architecture_is_refused(tmp_path):
    # The first bytes of an aarch64 executable: ELF magic, 64-bit, little endian, e_machine 0xB7.
    header = b"\x7fELF\x02\x01\x01" + bytes(11) + (0xB7).to_bytes(2, "little") + bytes(44)
    foreign = tmp_path / "bench"
    foreign.write_bytes(header)
    assert elf_architecture(foreign) == "aarch64"
    with pytest.raises(ForeignBinaryError, match="--forcerun build_cpp"):
        check_runs_here(foreign, machine="x86_64")
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ForeignBinaryError, match="not an ELF executable"):
        check_runs_here(script)
