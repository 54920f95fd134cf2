"""Shared pytest fixtures. The tvdeploy package is installed (``make setup``), not path-inserted."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def cpp_binaries(tmp_path_factory):
    """The C++ infer and bench programs, built once per test session (about a minute)."""
    from tvdeploy.cppbuild import build

    build_dir = tmp_path_factory.mktemp("cpp-build")
    with open(build_dir / "build.log", "w") as log:
        return build(REPO_ROOT / "cpp", build_dir, jobs=2, log=log)
