"""How tests run the real Snakefile on a scenario config (tests/scenarios/), in a copy of the repo
(tests/workflow/test_workflow.py locally, tests/workflow/test_slurm.py through a SLURM cluster)."""

import re
import shutil
import subprocess
import sys

import yaml
from conftest import REPO_ROOT

SCENARIOS = REPO_ROOT / "tests" / "scenarios"


def scenario_config(scenario: str) -> dict:
    """tests/scenarios/<scenario>.yaml, as read."""
    return yaml.safe_load((SCENARIOS / f"{scenario}.yaml").read_text())


TINY_CONFIG = scenario_config("tiny")
MODELS = TINY_CONFIG["models"]
RUN = TINY_CONFIG["run"]
# The tiny scenario keeps the default config's runtimes.
RUNTIMES = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())["runtimes"]
assert "runtimes" not in TINY_CONFIG
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "cpp", "profiles", "data/images", "data/clips", "data/pairs"]


def copy_workflow(dest, scenario: str = "tiny"):
    """The workflow's files copied to dest, with tests/scenarios/<scenario>.yaml as config/<scenario>.yaml."""
    for part in WORKFLOW_PARTS:
        src = REPO_ROOT / part
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    shutil.copy2(SCENARIOS / f"{scenario}.yaml", dest / "config" / f"{scenario}.yaml")
    return dest


def snakemake(workdir, *args, check=True):
    # --configfile takes several values, so it goes last: a target after it would be read as a config file.
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args, "--configfile", "config/tiny.yaml"]
    done = subprocess.run(command, check=False, cwd=workdir, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return done


def planned_jobs(output):
    """Rule → job count from a dry run's 'Job stats' table."""
    stats = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m.group(1) != "total"}
