"""Governed training on the real stack (supervisord, PostgreSQL, gunicorn, worker,
nginx): a job's fit runs in its own process, which the kernel's OOM killer would
pick before PostgreSQL; cancelling the running job through nginx stops that process
and the worker carries on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.conftest import AUTH, train, wait_job
from tests.stackrun import descendants

pytestmark = pytest.mark.integration

LONG = {
    "dataset": "breast_cancer",
    "algorithm": "gradient_boosting",
    "params": {"n_estimators": 10_000},
}


def oom_score_adj(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/oom_score_adj").read_text())
    except OSError:  # it exited meanwhile
        return None


def test_a_running_jobs_fit_is_isolated_and_cancelled_through_nginx(running):
    stack = running
    job = train(stack, "it-governed", LONG)
    deadline = time.monotonic() + 60
    while stack.get(f"/api/v1/jobs/{job['id']}").json().get("stage") != "fitting":
        assert time.monotonic() < deadline, stack.get(f"/api/v1/jobs/{job['id']}").json()
        time.sleep(0.2)
    status = stack.status()
    worker, postgres = int(status["worker"][1]), int(status["postgres"][1])
    fits = [p for p in descendants(worker) if oom_score_adj(p) == 1000]
    assert len(fits) == 1, fits  # the fit, and only it, volunteers for the OOM killer
    assert oom_score_adj(postgres) < 1000 and oom_score_adj(worker) < 1000

    res = stack.post(f"/api/v1/jobs/{job['id']}/cancel", headers=AUTH)
    assert res.status_code == 202 and res.json()["status"] == "running", res.text
    done = wait_job(stack, job["id"], timeout=20)
    assert done["status"] == "cancelled", done
    deadline = time.monotonic() + 10
    while Path(f"/proc/{fits[0]}").exists() and "Z" not in _state(fits[0]):
        assert time.monotonic() < deadline, f"fit {fits[0]} still running"
        time.sleep(0.1)
    assert int(stack.status()["worker"][1]) == worker  # the same worker, still serving

    quick = train(stack, "it-governed", {"dataset": "iris", "algorithm": "decision_tree"})
    assert wait_job(stack, quick["id"], timeout=60)["status"] == "succeeded"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
