"""Shared pytest set-up: make the workflow's helper package importable."""

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = REPO_ROOT / "workflow" / "scripts"
if str(SCRIPTS_DIR) not in sys.path:
    sys.path.insert(0, str(SCRIPTS_DIR))


@pytest.fixture(scope="session")
def cpp_binaries(tmp_path_factory):
    """The C++ infer and bench programs, built once per test session (about a minute)."""
    from tvdeploy.cppbuild import build

    build_dir = tmp_path_factory.mktemp("cpp-build")
    with open(build_dir / "build.log", "w") as log:
        return build(REPO_ROOT / "cpp", build_dir, jobs=2, log=log)
