"""The real stack, started once per session through the native runner (conf/stack.sh:
the container's entrypoint, supervisord.conf, nginx.conf and gunicorn settings), with
its state under var/stack-test/ (wiped at the start, kept afterwards for post-mortems).

Ports are the design's: nginx 5001, gunicorn 5000; PostgreSQL listens on a unix socket
under the state directory only. Tests talk HTTP to nginx and drive the processes with
supervisorctl; the stack is always shut down through supervisorctl, then by PID."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import need_binary
from tests.pgserver import find_bindir

ROOT = Path(__file__).resolve().parents[2]
STATE = ROOT / "var" / "stack-test"
LOG_DIR = STATE / "log"
NGINX_URL = "http://127.0.0.1:5001"
GUNICORN_PORT = 5000
NGINX_PORT = 5001
PROGRAMS = ("postgres", "gunicorn", "worker", "nginx")
# The programs the fixture waits for; the worker is checked by the tests that need it.
CORE_PROGRAMS = ("postgres", "gunicorn", "nginx")
TOKEN = "it-" + secrets.token_urlsafe(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Stack:
    """Handle on the running stack: supervisorctl, HTTP through nginx, the logs."""

    def __init__(self, proc: subprocess.Popen, env: dict, out: Path):
        self.proc = proc
        self.env = env
        self.out = out
        self.url = NGINX_URL
        self.http = requests.Session()

    # -- supervisorctl ------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(ROOT / "conf" / "stack.sh"), "ctl", *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict[str, tuple[str, int | None]]:
        """program -> (state, pid)"""
        out = self.ctl("status").stdout
        states = {}
        for line in out.splitlines():
            m = re.match(r"^(\S+)\s+(\S+)(?:\s+pid (\d+))?", line)
            if m:
                states[m.group(1)] = (m.group(2), int(m.group(3)) if m.group(3) else None)
        return states

    def wait_running(self, programs=CORE_PROGRAMS, timeout: float = 60) -> float:
        """Seconds until every one of `programs` is RUNNING."""
        start = time.monotonic()
        while True:
            states = self.status()
            if all(states.get(p, ("?",))[0] == "RUNNING" for p in programs):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not RUNNING after {timeout}s: {states}\n{self.tail()}")
            time.sleep(0.2)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until /health/ready answers 200 through nginx."""
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"the stack exited ({self.proc.returncode})\n{self.tail()}")
            try:
                last = requests.get(self.url + "/api/v1/health/ready", timeout=5)
                if last.status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout}s (last: {last!r} "
                             f"{getattr(last, 'text', '')})\n{self.tail()}")

    # -- HTTP through nginx -------------------------------------------------
    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        return self.http.get(self.url + path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.http.post(self.url + path, **kw)

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
        raise AssertionError(f"no line with {needle!r} in {path}")


def require_stack_binaries() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        need_binary("nginx")
    if find_bindir() is None:
        need_binary("PostgreSQL server binaries")


@pytest.fixture(scope="session")
def stack():
    require_stack_binaries()
    busy = [p for p in (GUNICORN_PORT, NGINX_PORT) if port_open(p)]
    if busy:
        pytest.fail(f"ports {busy} are in use: the stack's ports are fixed (stop `make stack` "
                    "or whatever listens there first)")
    if STATE.exists():
        shutil.rmtree(STATE)
    LOG_DIR.mkdir(parents=True)
    out = LOG_DIR / "stack.out"
    env = {
        **os.environ,
        "MLSTACK_VAR": str(STATE),
        "API_TOKEN": TOKEN,
        "MLSTACK_ENV": "production",
        "GUNICORN_WORKERS": "2",
    }
    env.pop("DATABASE_URL", None)
    env.pop("MODEL_STORE", None)
    env.pop("LOG_DIR", None)
    # append mode: supervisord and its programs reopen /dev/stdout, and only O_APPEND
    # keeps their writes from overwriting one another in a regular file
    with open(out, "ab") as fh:
        proc = subprocess.Popen([str(ROOT / "conf" / "stack.sh")], env=env, stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
    s = Stack(proc, env, out)
    try:
        s.wait_ready(timeout=240)
        s.wait_running(CORE_PROGRAMS, timeout=60)
        yield s
    finally:
        shutdown(s)


def shutdown(s: Stack) -> None:
    """supervisorctl shutdown, then wait for supervisord's PID; signals by PID only
    if it does not go."""
    if s.proc.poll() is None:
        try:
            s.ctl("shutdown", timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            s.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.kill(s.proc.pid, signal.SIGTERM)
            try:
                s.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(port_open(p) for p in (GUNICORN_PORT, NGINX_PORT)) and time.monotonic() < deadline:
        time.sleep(0.2)


@pytest.fixture
def running(stack):
    """The stack, checked healthy before a test (a previous test may have restarted
    or stopped parts of it)."""
    stack.wait_running(CORE_PROGRAMS, timeout=90)
    stack.wait_ready(timeout=90)
    return stack


def wait_job(stack, job_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        r = stack.get(f"/api/v1/jobs/{job_id}")
        if r.status_code == 200:
            job = r.json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} not finished after {timeout}s: {job}\n{stack.tail()}")


def train(stack, name: str, spec: dict) -> dict:
    r = stack.post(f"/api/v1/models/{name}/train", json=spec, headers=AUTH)
    assert r.status_code == 202, r.text
    return r.json()


def eventually(check, timeout: float = 3.0, interval: float = 0.1):
    """`check()` until it returns without an AssertionError (the registry cache in
    each gunicorn worker learns of new and promoted versions within 2 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def require_chromium() -> str:
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(path).exists():
            return path
    need_binary("chromium")
    raise AssertionError("unreachable")


ARTIFACTS = ROOT / "tests" / "artifacts"
