"""Shared pytest fixtures. The tvdeploy package is installed (``make setup``), not path-inserted."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# Set to 1 (make test-catalog), tests that sample the catalog's models test every one of them.
EVERY_MODEL_ENV = "TVDEPLOY_TEST_EVERY_MODEL"


@pytest.fixture(scope="session")
def cpp_binaries(tmp_path_factory):
    """The C++ infer and bench programs, built once per test session (about a minute on 2 cores;
    every core of the machine builds)."""
    from tvdeploy.build.cpp import build

    build_dir = tmp_path_factory.mktemp("cpp-build")
    with open(build_dir / "build.log", "w") as log:
        return build(REPO_ROOT / "cpp", build_dir, jobs=os.cpu_count() or 2, log=log)


# Inputs of the C++ programs' tests (tests/cpp/). Imports are local: most test files
# need neither torch nor these fixtures.


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory):
    """A tiny TorchScript classifier (toy_models.classifier): (path, module)."""
    from cpp_helpers import save_scripted
    from toy_models import classifier

    net = classifier(seed=0)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    return path, save_scripted(net, path)


@pytest.fixture(scope="session")
def toy_labels(tmp_path_factory) -> Path:
    """A labels file for toy_model, one non-ASCII label per class."""
    from toy_models import NUM_CLASSES

    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_text("".join(f"class {i} é\n" for i in range(NUM_CLASSES)), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def frozen_convbn(tmp_path_factory):
    """A conv + batch-norm model frozen like the 'optimized' variant's file: (path, module)."""
    import torch
    from toy_models import conv_bn_classifier

    from tvdeploy.build.torchscript import make_variant

    net = conv_bn_classifier(seed=3)
    path = tmp_path_factory.mktemp("variant") / "frozen.pt"
    frozen = make_variant(torch.jit.script(net), "frozen")
    frozen.save(str(path))
    return path, frozen


@pytest.fixture
def bench_input(tmp_path) -> Path:
    """One preprocessed image (batch dimension 1), as bench takes."""
    from cpp_helpers import random_image, write_input

    return write_input(tmp_path / "img.dat", random_image(3))
