"""The real stack, run natively through conf/stack.sh (the container's entrypoint,
supervisord.conf, nginx.conf and gunicorn settings) with its state in a directory of
the caller's: started, probed, driven with supervisorctl, and shut down through
supervisorctl, then by PID. Used by the integration tests' fixtures and by the
benchmark harness (bench/), so both run the stack the same way.

Ports are the design's: nginx 5001, gunicorn 5000 (fixed, so one stack at a time);
PostgreSQL listens on a unix socket under the state directory only. No pytest here:
the harness runs without it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.pgserver import find_bindir

ROOT = Path(__file__).resolve().parents[1]
STACK_SH = ROOT / "conf" / "stack.sh"
GUNICORN_PORT = 5000
NGINX_PORT = 5001
NGINX_URL = f"http://127.0.0.1:{NGINX_PORT}"
GUNICORN_URL = f"http://127.0.0.1:{GUNICORN_PORT}"
PROGRAMS = ("postgres", "gunicorn", "worker", "nginx")
# The programs a start waits for; the worker is checked by those that need it.
CORE_PROGRAMS = ("postgres", "gunicorn", "nginx")
# Variables that would point the stack at state outside its own directory.
FOREIGN_STATE = ("DATABASE_URL", "MODEL_STORE", "LOG_DIR")


FINISHED = ("succeeded", "failed", "cancelled")


def poll_job(
    get: Callable[[str], requests.Response],
    job_id: int | str,
    timeout: float,
    until: tuple[str, ...],
    interval: float,
) -> dict[str, Any] | None:
    """The job's document once its status or stage is one of `until`; None after
    `timeout` seconds. `get` is a GET of a path on the service (native or container)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = get(f"/api/v1/jobs/{job_id}")
        if r.status_code == 200:
            job = r.json()
            if job["status"] in until or job.get("stage") in until:
                return dict(job)
        time.sleep(interval)
    return None


class StackError(AssertionError):
    """The stack did not do what was asked in time (or exited). An AssertionError, so
    that in the tests it reads as the failed check it is; the harness exits with it."""


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def busy_ports() -> list[int]:
    """The stack's ports something already listens on."""
    return [p for p in (GUNICORN_PORT, NGINX_PORT) if port_open(p)]


def missing_binaries() -> list[str]:
    """What the stack needs from the system and this machine lacks."""
    missing = []
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        missing.append("nginx")
    if find_bindir() is None:
        missing.append("PostgreSQL server binaries")
    return missing


def stack_env(state: Path, token: str, workers: int = 2) -> dict[str, str]:
    """The environment of a production-mode stack whose state is all under `state`."""
    env = {
        **os.environ,
        "MLSTACK_VAR": str(state),
        "API_TOKEN": token,
        "MLSTACK_ENV": "production",
        "GUNICORN_WORKERS": str(workers),
    }
    for key in FOREIGN_STATE:
        env.pop(key, None)
    return env


class Stack:
    """Handle on one native stack: start and shutdown, supervisorctl, HTTP through
    nginx, the logs."""

    def __init__(self, state: Path, token: str, workers: int = 2) -> None:
        self.state = state
        self.log_dir = state / "log"
        self.out = self.log_dir / "stack.out"
        self.token = token
        self.auth = {"Authorization": f"Bearer {token}"}
        self.env = stack_env(state, token, workers)
        self.url = NGINX_URL
        self.http = requests.Session()
        self.proc: subprocess.Popen[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------
    def launch(self) -> None:
        """Wipe the state directory (kept after a run, for post-mortems) and start
        conf/stack.sh in its own session; returns without waiting."""
        shutil.rmtree(self.state, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        # append mode: supervisord and its programs reopen /dev/stdout, and only
        # O_APPEND keeps their writes from overwriting one another in a regular file
        with open(self.out, "ab") as fh:
            self.proc = subprocess.Popen(
                [str(STACK_SH)],
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=ROOT,
            )

    def start(self, timeout: float = 240) -> None:
        """Launch, then wait until it answers ready and its core programs run (the
        caller shuts down in a `finally`, whether or not it came up)."""
        self.launch()
        self.wait_ready(timeout=timeout)
        self.wait_running(CORE_PROGRAMS, timeout=60)

    def shutdown(self) -> None:
        """supervisorctl shutdown, then wait for supervisord's PID; signals by PID only
        if it does not go. Returns once the ports are free (or after 30 s)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                self.ctl("shutdown", timeout=30)
            except subprocess.TimeoutExpired:
                pass
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        deadline = time.monotonic() + 30
        while busy_ports() and time.monotonic() < deadline:
            time.sleep(0.2)

    # -- supervisorctl ------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(STACK_SH), "ctl", *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def status(self) -> dict[str, tuple[str, int | None]]:
        """program -> (state, pid)"""
        states = {}
        for line in self.ctl("status").stdout.splitlines():
            m = re.match(r"^(\S+)\s+(\S+)(?:\s+pid (\d+))?", line)
            if m:
                states[m.group(1)] = (m.group(2), int(m.group(3)) if m.group(3) else None)
        return states

    def pids(self) -> dict[str, int]:
        """program -> pid, for the RUNNING programs."""
        return {
            name: pid
            for name, (state, pid) in self.status().items()
            if state == "RUNNING" and pid is not None
        }

    def wait_running(self, programs: tuple[str, ...] = CORE_PROGRAMS, timeout: float = 60) -> float:
        """Seconds until every one of `programs` is RUNNING."""
        start = time.monotonic()
        while True:
            states = self.status()
            if all(states.get(p, ("?", None))[0] == "RUNNING" for p in programs):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise StackError(f"not RUNNING after {timeout}s: {states}\n{self.tail()}")
            time.sleep(0.2)

    def wait_ready(self, timeout: float = 60, interval: float = 0.2) -> float:
        """Seconds until /health/ready answers 200 through nginx (probed every
        `interval` seconds: the harness times restarts with it)."""
        start = time.monotonic()
        last: requests.Response | requests.RequestException | None = None
        while time.monotonic() - start < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise StackError(f"the stack exited ({self.proc.returncode})\n{self.tail()}")
            try:
                last = requests.get(self.url + "/api/v1/health/ready", timeout=5)
                if last.status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException as exc:
                last = exc
            time.sleep(interval)
        raise StackError(
            f"not ready after {timeout}s (last: {last!r} "
            f"{getattr(last, 'text', '')})\n{self.tail()}"
        )

    # -- HTTP through nginx -------------------------------------------------
    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return self.http.get(self.url + path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.http.post(self.url + path, **kw)

    def wait_job(self, job_id: int | str, timeout: float = 120) -> dict[str, Any]:
        """The job's document once it has finished (succeeded, failed or cancelled)."""
        job = poll_job(self.get, job_id, timeout, FINISHED, interval=0.5)
        if job is None:
            raise StackError(f"job {job_id} not finished after {timeout}s\n{self.tail()}")
        return job

    # -- files --------------------------------------------------------------
    def tail(self, n: int = 60) -> str:
        try:
            lines = self.out.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "--- stack output (tail) ---\n" + "\n".join(lines[-n:])

    def wait_for_line(self, path: Path, needle: str, timeout: float = 10) -> str:
        """The first line of `path` containing `needle` (log handlers flush per line,
        nginx writes each access line at the end of the request)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                for line in path.read_text(errors="replace").splitlines():
                    if needle in line:
                        return line
            time.sleep(0.1)
        raise StackError(f"no line with {needle!r} in {path}")


def parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process now, from /proc (the command in
    /proc/<pid>/stat may hold spaces and parentheses: the ppid follows the last ')')."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except OSError:  # it exited meanwhile
            continue
    return parents


def children(pid: int) -> set[int]:
    """The direct children of `pid`."""
    return {p for p, parent in parent_pids().items() if parent == pid}


def descendants(pid: int) -> set[int]:
    """Every process below `pid`."""
    parents = parent_pids()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found
