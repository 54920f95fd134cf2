"""The tiny end-to-end config and how tests run the real Snakefile on it, in a copy of the repo
(tests/test_workflow.py locally, tests/test_slurm.py through a SLURM cluster)."""

import re
import shutil
import subprocess
import sys

import yaml
from conftest import REPO_ROOT

MODELS = ["squeezenet1_1", "mobilenet_v3_small"]
RUNTIMES = ["eager", "ts-python", "ts-cpp", "onnxruntime", "openvino-python"]
# The run label is fixed so targets do not depend on the test machine's host name.
RUN = "tiny"
TINY_CONFIG = {
    "run": RUN,
    "models": MODELS,
    "weights": "random",
    "devices": ["cpu"],
    # The default's fused variant runs through the workflow in test_every_runtime_on_one_model.
    "variants": ["plain"],
    "bench": {
        "batch_sizes": [1],
        "threads": 0,
        "interop_threads": 1,
        "warmup_iters": 5,
        "warmup_max_time_s": 5.0,
        "min_iters": 5,
        "max_iters": 50,
        "min_time_s": 0.2,
        # Generous: a block must reach min_iters even on a loaded machine (the assertions need 5).
        "max_time_s": 5.0,
        "rounds": 3,
    },
    # Rounds 0-1 on the first start of the workers, round 2 on a second start.
    "compare": {
        "confidence": 0.95,
        "resolution": 0.03,
        "noisy_block_iqr": 0.10,
        "max_block_reruns": 1,
        "launches": 2,
        "seed": 0,
    },  # fmt: skip
}
WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "cpp", "profiles", "data/images"]


def copy_workflow(dest):
    for part in WORKFLOW_PARTS:
        src = REPO_ROOT / part
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, target)
    (dest / "config" / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
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
