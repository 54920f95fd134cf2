"""The coordinator's side of a benchmark worker: the process it starts for one deployment and
the JSON lines it speaks with it (the protocol is in ``tvdeploy.measure.worker``; the C++ ``bench
--serve`` speaks the same), or the stand-in for a deployment whose worker cannot start at all."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import psutil

LOG = logging.getLogger("tvdeploy.measure.processes")
KB = 1024
MB = 1_000_000


class WorkerError(RuntimeError):
    """A worker failed; the message names the deployment and the model."""


class ProcessWorker:
    """A worker process speaking JSON lines: one request on stdin, one answer on stdout. Its
    stderr goes to ``log`` (the rule's log file)."""

    def __init__(self, name: str, model: str, command: list[str], log=None, env: dict | None = None):
        self.name = name
        self.model = model
        self.command = command
        self._log = log
        self._env = env
        self._process: subprocess.Popen | None = None
        self.ready: dict = {}

    def _fail(self, what: str) -> WorkerError:
        code = self._process.poll() if self._process else None
        status = f" (exit status {code})" if code is not None else ""
        return WorkerError(f"{self.name} worker for {self.model}: {what}{status}; its messages are in the log")

    def _read(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            self._process.wait(timeout=30)
            raise self._fail("exited unexpectedly")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError as err:
            raise self._fail(f"answered something that is not JSON ({line[:200]!r})") from err
        if not answer.get("ok", False):
            raise self._fail(f"reported an error: {answer.get('error', answer)}")
        return answer

    def start(self) -> dict:
        LOG.info("starting %s: %s", self.name, " ".join(self.command))
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            bufsize=1,
            env=self._env,
        )
        self.ready = self._read().get("ready", {})
        return self.ready

    def request(self, message: dict) -> dict:
        if self._process is None or self._process.poll() is not None:
            raise self._fail("is not running")
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
        except BrokenPipeError as err:
            raise self._fail("closed its input") from err
        return self._read()

    def warmup(self, iters: int, max_time_s: float) -> dict:
        return self.request({"op": "warmup", "iters": iters, "max_time_s": max_time_s})

    def block(self, rule) -> dict:
        """One timed block under ``rule`` (tvdeploy.measure.compare.BlockRule, which makes the request)."""
        return self.request(rule.request())

    def resident_mb(self) -> float | None:
        """The process's peak resident memory so far (MB): Linux's VmHWM, which includes the
        transient peak of loading, else the current resident size."""
        if self._process is None or self._process.poll() is not None:
            return None
        try:
            for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * KB / MB
        except OSError:
            pass
        return psutil.Process(self._process.pid).memory_info().rss / MB

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                self._process.kill()
                self._process.wait()
        self._process = None


class UnavailableWorker:
    """A deployment that has no worker to start: its artifact was not built (its build record
    says why). It fails at start with that reason, as a worker that cannot load its deployment
    does, so the comparison records it as failed and measures the others."""

    def __init__(self, name: str, model: str, reason: str):
        self.name = name
        self.model = model
        self.reason = reason

    def start(self) -> dict:
        raise WorkerError(f"{self.name} worker for {self.model}: not started: {self.reason}")

    def close(self) -> None:
        """Nothing was started."""
