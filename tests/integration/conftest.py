"""The real stack, started once per session through the native runner (tests/stackrun.py,
shared with the benchmark harness), with its state under var/stack-test/ (wiped at the
start, kept afterwards for post-mortems).

Ports are the design's: nginx 5001, gunicorn 5000; PostgreSQL listens on a unix socket
under the state directory only. Tests talk HTTP to nginx and drive the processes with
supervisorctl; the stack is always shut down through supervisorctl, then by PID."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from tests.conftest import need_binary
from tests.stackrun import (
    CORE_PROGRAMS,
    GUNICORN_PORT,
    NGINX_PORT,
    NGINX_URL,
    PROGRAMS,
    ROOT,
    Stack,
    busy_ports,
    missing_binaries,
    port_open,
)

__all__ = [
    "ARTIFACTS",
    "AUTH",
    "CORE_PROGRAMS",
    "GUNICORN_PORT",
    "LOG_DIR",
    "NGINX_PORT",
    "NGINX_URL",
    "PROGRAMS",
    "ROOT",
    "STATE",
    "Stack",
    "TOKEN",
    "eventually",
    "port_open",
    "require_chromium",
    "require_stack_binaries",
    "shutdown",
    "train",
    "wait_job",
]

STATE = ROOT / "var" / "stack-test"
LOG_DIR = STATE / "log"
TOKEN = "it-" + secrets.token_urlsafe(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def require_stack_binaries() -> None:
    for what in missing_binaries():
        need_binary(what)


@pytest.fixture(scope="session")
def stack():
    require_stack_binaries()
    busy = busy_ports()
    if busy:
        pytest.fail(
            f"ports {busy} are in use: the stack's ports are fixed (stop `make stack` "
            "or whatever listens there first)"
        )
    s = Stack(STATE, TOKEN, workers=2)
    try:
        s.start(timeout=240)
        yield s
    finally:
        s.shutdown()


def shutdown(s: Stack) -> None:
    """supervisorctl shutdown, then wait for supervisord's PID (Stack.shutdown)."""
    s.shutdown()


@pytest.fixture
def running(stack):
    """The stack, checked healthy before a test (a previous test may have restarted
    or stopped parts of it)."""
    stack.wait_running(CORE_PROGRAMS, timeout=90)
    stack.wait_ready(timeout=90)
    return stack


def wait_job(stack: Stack, job_id: int, timeout: float = 120) -> dict:
    return stack.wait_job(job_id, timeout)


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
