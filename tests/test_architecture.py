"""The package's shape: no import cycle between its modules, modules of one concern (bounded in
length), and a Snakefile whose parse never imports torch (so a dry run over the whole catalog
stays quick)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "tvdeploy"
# About 400 lines: beyond that a module has usually grown a second concern.
MAX_MODULE_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every tvdeploy module ``path`` imports, at any level (a function-level import is still a
    dependency: it only hides a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from tvdeploy.x import y` imports tvdeploy.x, or the submodule tvdeploy.x.y.
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("tvdeploy."):
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        # A package's __init__ is imported with each of its modules; its own imports count.
        graph[name] = {m for m in imported_modules(path, set(known)) if m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package is imported by its own submodules' parents: `tvdeploy.x` → `tvdeploy.x.y`
            # imported from tvdeploy.x/__init__ is not a cycle unless y imports back.
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_hidden_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_graph_sees_function_level_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from tvdeploy.registry import RUNTIMES\n")
    assert imported_modules(source, {"tvdeploy.registry", "tvdeploy.registry.paths"}) == {"tvdeploy.registry"}


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_modules_stay_of_one_concern():
    too_long = {
        name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_the_snakefile_parses_without_torch(tmp_path):
    """A dry run of the default config (every model) with ``import torch`` made to fail: what the
    workflow imports while parsing must not need it."""
    blocker = tmp_path / "blocker"
    for name in ("torch", "torchvision"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(
            f"raise ImportError('{name} imported while parsing the workflow')\n"
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(PACKAGE.parent)])}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--config", "weights=random"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported while parsing" not in done.stderr


# Parse-time modules, and the results stage: tables, figures and the summary need no torch.
TORCH_FREE = [
    "tvdeploy.plan",
    "tvdeploy.registry",
    "tvdeploy.catalog.sheet",
    "tvdeploy.results.summary",
    "tvdeploy.results.frames",
    "tvdeploy.results.markdown",
    "tvdeploy.results.jobs",
    "tvdeploy.results.deployability",
    "tvdeploy.results.speedups",
    "tvdeploy.results.formatting",
    "tvdeploy.results.fronts",
    # The comparison coordinator (the compare rule's script loads no torch).
    "tvdeploy.measure.compare",
    "tvdeploy.measure.summary",
    "tvdeploy.harnesses.allocator",
]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_parse_time_modules_import_without_torch(module, tmp_path):
    blocker = tmp_path / "torch"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('torch')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PACKAGE.parent)])}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


# Test folders beside the package's stages: the C++ programs and the workflow run end to end.
TEST_FOLDERS_BEYOND_THE_PACKAGE = {"cpp", "workflow", "scenarios"}


def test_the_tests_mirror_the_package():
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    tests = REPO_ROOT / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - TEST_FOLDERS_BEYOND_THE_PACKAGE == stages
    for stage in stages:
        assert list((tests / stage).glob("test_*.py")), f"tests/{stage}/ has no tests"
