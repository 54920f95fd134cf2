"""A real single-node SLURM cluster on 127.0.0.1 for the SLURM test: Debian's slurm-wlm and munge,
daemons started here and stopped by PID, two fake GPUs (GRES backed by /dev/null and /dev/zero).

SLURM reads its configuration from /etc/slurm (job steps clear SLURM_CONF), so the cluster owns
/etc/slurm/slurm.conf and gres.conf while it runs and puts back whatever was there before.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLURM_ETC = Path("/etc/slurm")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
# Node memory offered to jobs (the SLURM test's largest job asks for under 4 GB).
NODE_MEM_MB = 16000
# Fake GPUs: GRES entries need distinct device files, none of them a GPU.
FAKE_GPU_FILES = ("/dev/null", "/dev/zero")
# Completed jobs stay visible to scontrol this long, so a test can read every job it submitted.
MIN_JOB_AGE_S = 7200
START_TIMEOUT_S = 60
MUNGE_USER = "munge"


def unavailable_reason() -> str | None:
    """Why a single-node SLURM cannot be started here, or None."""
    if os.geteuid() != 0:
        return "the SLURM test starts slurmctld, slurmd and munged and writes /etc/slurm: it needs root"
    missing = [p for p in (*DAEMONS, *CLIENTS) if shutil.which(p) is None]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    return None


def _slurm_conf(state: Path, host: str, cpus: int) -> str:
    return f"""\
ClusterName=tvdeploy-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MinJobAge={MIN_JOB_AGE_S}
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={NODE_MEM_MB} Gres=gpu:{len(FAKE_GPU_FILES)} State=UNKNOWN
PartitionName=main Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _gres_conf(host: str) -> str:
    return "".join(f"NodeName={host} Name=gpu File={path}\n" for path in FAKE_GPU_FILES)


class SingleNodeSlurm:
    """Start with ``start()``, stop with ``stop()`` (also on failure: use as a context manager)."""

    def __init__(self, state_dir: Path):
        self.state = Path(state_dir)
        self.host = socket.gethostname()
        self.processes: dict[str, subprocess.Popen] = {}
        self._saved_etc: dict[Path, bytes | None] = {}
        self._logs = []

    def __enter__(self) -> SingleNodeSlurm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _own_etc_file(self, name: str, text: str) -> None:
        path = SLURM_ETC / name
        self._saved_etc[path] = path.read_bytes() if path.exists() else None
        path.write_text(text)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.state / f"{name}.out", "w")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        for sub in ("ctld", "spool"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        SLURM_ETC.mkdir(parents=True, exist_ok=True)
        cpus = len(os.sched_getaffinity(0))
        self._own_etc_file("slurm.conf", _slurm_conf(self.state, self.host, cpus))
        self._own_etc_file("gres.conf", _gres_conf(self.host))
        # munged in the foreground, as its own user, with its socket where the clients look for it.
        # Its PID file goes there too: pytest's temporary folders are private to root (mode 0700),
        # so the munge user cannot reach a PID file under them.
        run_munge = Path("/run/munge")
        run_munge.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_munge, MUNGE_USER, MUNGE_USER)
        if not _succeeds(["sh", "-c", "munge -n | unmunge"]):  # else a munged already runs
            self._spawn(
                "munged",
                ["runuser", "-u", MUNGE_USER, "--", "munged", "--foreground", "--force",
                 "--pid-file", str(run_munge / "tvdeploy-test-munged.pid")],
            )  # fmt: skip
            self._wait_for(lambda: _succeeds(["sh", "-c", "munge -n | unmunge"]), "munged")
        self._spawn("slurmctld", ["slurmctld", "-D"])
        self._spawn("slurmd", ["slurmd", "-D"])
        self._wait_for(self._node_idle, "the SLURM node to become idle")

    def _node_idle(self) -> bool:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], check=False, capture_output=True, text=True, timeout=10)
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def _wait_for(self, ready, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}: {self.daemon_output(name)}")
            if ready():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}: {self.daemon_output('slurmctld')}")

    def daemon_output(self, name: str) -> str:
        path = self.state / f"{name}.out"
        return path.read_text()[-2000:] if path.exists() else ""

    def stop(self) -> None:
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--user", "root"], check=False, capture_output=True, timeout=30)
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes.clear()
        for log in self._logs:
            log.close()
        for path, content in self._saved_etc.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self._saved_etc.clear()


def _succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, check=False, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def job_records() -> list[dict[str, str]]:
    """Every job the controller still knows (``scontrol show job --oneliner``), as field dicts."""
    from tvdeploy.host.cluster import job_fields

    done = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], check=False, capture_output=True, text=True, timeout=30
    )
    return [job_fields(line) for line in done.stdout.splitlines() if line.startswith("JobId=")]
