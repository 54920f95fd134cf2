"""Which cluster allocation a job ran in: benchmark results record it, because a timing taken on a
node shared with other jobs means little. Torch-free.

SLURM exports the job's id, node and CPUs to the job's environment; whether the node was held
exclusively (``sbatch --exclusive``) is only known to the controller, so it is read from
``scontrol show job``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Mapping

SCONTROL_TIMEOUT_S = 20


def _scontrol_show_job(job_id: str) -> str | None:
    try:
        done = subprocess.run(
            ["scontrol", "show", "job", "--oneliner", job_id],
            capture_output=True,
            text=True,
            timeout=SCONTROL_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def job_fields(scontrol_output: str) -> dict[str, str]:
    """``Key=Value`` pairs of one ``scontrol show job --oneliner`` record (values without spaces)."""
    return dict(re.findall(r"(\w[\w:/]*)=(\S*)", scontrol_output))


def exclusive_from_fields(fields: Mapping[str, str]) -> bool | None:
    """``sbatch --exclusive`` shows as ``OverSubscribe=NO`` (``USER``/``MCS`` for the narrower
    exclusive modes, which still let the user's own jobs share the node); None when unknown."""
    value = fields.get("OverSubscribe")
    if value is None:
        return None
    return value == "NO"


def slurm_allocation(
    environ: Mapping[str, str] | None = None,
    show_job: Callable[[str], str | None] = _scontrol_show_job,
) -> dict | None:
    """The SLURM job this process runs in (id, node, partition, CPUs and GPUs on the node, whether
    the node was exclusive), or None outside SLURM."""
    env = os.environ if environ is None else environ
    job_id = env.get("SLURM_JOB_ID")
    if not job_id:
        return None
    record = show_job(job_id)
    fields = job_fields(record) if record else {}
    return {
        "scheduler": "slurm",
        "job_id": job_id,
        "node": env.get("SLURMD_NODENAME") or fields.get("BatchHost"),
        "partition": env.get("SLURM_JOB_PARTITION") or fields.get("Partition"),
        "cpus_on_node": int(env["SLURM_CPUS_ON_NODE"]) if env.get("SLURM_CPUS_ON_NODE") else None,
        "gpus": env.get("SLURM_JOB_GPUS") or env.get("CUDA_VISIBLE_DEVICES"),
        "exclusive": exclusive_from_fields(fields),
    }
