"""Faults found running the container, shown on the native stack: `restart all` stops
the programs in order, so a job being trained finishes on its first attempt; `make
run` serves on PORT; the runner refuses, before setting anything up, a state directory
PostgreSQL cannot reach."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import PROGRAMS, ROOT, train, wait_job

pytestmark = pytest.mark.integration

ALL_PROGRAMS = (*PROGRAMS, "logrotate")
SHORT_JOB = {
    "dataset": "breast_cancer",
    "algorithm": "gradient_boosting",
    "params": {"n_estimators": 300},
}


def test_restart_all_stops_in_order_and_the_running_job_finishes_first(running):
    stack = running
    stack.wait_running(PROGRAMS, timeout=60)
    job = train(stack, "it-ordered", SHORT_JOB)
    deadline = time.monotonic() + 60
    while stack.get(f"/api/v1/jobs/{job['id']}").json().get("stage") not in ("fitting", "done"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    mark = len(stack.out.read_text(errors="replace"))
    out = stack.ctl("restart", "all", timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    stack.wait_ready(timeout=60)

    done = wait_job(stack, job["id"], timeout=30)
    assert done["status"] == "succeeded" and done["attempts"] == 1, done
    # supervisord's own lines: each program stopped after the one before it
    log = stack.out.read_text(errors="replace")[mark:]
    stopped = re.findall(r"INFO stopped: (\w+)", log)
    assert stopped == ["logrotate", "nginx", "worker", "gunicorn", "postgres"], stopped
    assert " CRIT " not in log


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_serves_on_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "MLSTACK_VAR": str(tmp_path / "var"),
        "MLSTACK_ENV": "development",
    }
    for var in ("GUNICORN_BIND", "DATABASE_URL", "MODEL_STORE", "LOG_DIR", "DATASET_STORE"):
        env.pop(var, None)
    log = open(tmp_path / "run.out", "wb")
    proc = subprocess.Popen(
        [str(ROOT / "conf" / "run-dev.sh")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                r = requests.get(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=2)
                if r.status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (tmp_path / "run.out").read_text()
            assert time.monotonic() < deadline, (tmp_path / "run.out").read_text()
            time.sleep(0.3)
        assert f"serving on http://127.0.0.1:{port}" in (tmp_path / "run.out").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        log.close()


@pytest.mark.skipif(os.getuid() != 0, reason="only root switches PostgreSQL to its own user")
def test_stack_refuses_a_state_directory_postgres_cannot_reach():
    closed = Path(tempfile.mkdtemp(prefix="mlstack-closed-"))  # 0700, like /root
    try:
        env = {**os.environ, "MLSTACK_VAR": str(closed / "state"), "API_TOKEN": "x"}
        out = subprocess.run(
            [str(ROOT / "conf" / "stack.sh")], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode != 0
        assert "cannot reach" in out.stderr and "MLSTACK_VAR=" in out.stderr, out.stderr
        assert not (closed / "state").exists()  # nothing set up first
    finally:
        os.rmdir(closed)
