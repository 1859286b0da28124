"""Real worker processes (`python -m app.worker`, SQLite and PostgreSQL) whose fits run
in child processes: a fit beyond JOB_TIMEOUT_SECONDS or JOB_MEMORY_MB fails its job
with the reason while the worker lives on and runs the next job; a running job is
cancelled (its child stopped); the child volunteers for the OOM killer, carries the
memory limit, and dies with a SIGKILLed worker."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import numpy as np

from app.core.training.isolation import ChildLimits, run_in_child
from tests.api import test_workers
from tests.api.test_training import upload
from tests.api.test_workers import SLOW, enqueue, job, wait_for
from tests.conftest import AUTH

workers = test_workers.workers  # real worker processes, stopped after the test

LONG = {**SLOW, "params": {"n_estimators": 10_000}}  # minutes of fitting here
QUICK = {"dataset": "iris", "algorithm": "decision_tree"}


def finished(client, job_id: int, timeout: float, worker) -> dict:
    return wait_for(
        lambda: (j := job(client, job_id))["status"] in ("succeeded", "failed", "cancelled") and j,
        timeout,
        lambda: f"job {job_id} did not finish: {job(client, job_id)}\n{worker.log()}",
    )


def fitting_child(client, job_id: int, worker) -> int:
    """The pid of the child process fitting `job_id` (the worker logs it)."""
    wait_for(
        lambda: job(client, job_id).get("stage") == "fitting",
        60,
        lambda: f"job never reached fitting: {job(client, job_id)}\n{worker.log()}",
    )
    return int(re.findall(r"fitting in process (\d+)", worker.log())[-1])


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_a_fit_beyond_the_timeout_fails_its_job_and_the_worker_runs_the_next(client, workers):
    w = workers(JOB_TIMEOUT_SECONDS="2")
    w.wait_started()
    slow = enqueue(client, "slow", **LONG)
    quick = enqueue(client, "quick", **QUICK)
    failed = finished(client, slow, 60, w)
    assert failed["status"] == "failed", failed
    assert "longer than 2 s (JOB_TIMEOUT_SECONDS)" in failed["error"]
    took = (failed["finished_at"], failed["started_at"])
    assert took[0] > took[1]
    assert finished(client, quick, 60, w)["status"] == "succeeded"
    assert w.proc.poll() is None  # the same worker, still running
    assert client.get("/api/v1/models/slow").status_code == 404  # nothing registered


def _address_space_mb(on_stage) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) / 1024


def test_a_fit_beyond_the_memory_limit_fails_its_job_and_the_worker_runs_the_next(client, workers):
    # a child's address space before it fits anything (the libraries, preloaded)
    baseline = run_in_child(
        _address_space_mb, (), {}, ChildLimits(60, 0), on_stage=print, check=lambda: None
    )
    w = workers(JOB_MEMORY_MB=str(int(baseline + 100)))
    w.wait_started()
    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.6f}" for v in r) for r in rng.random((30_000, 5)))
    up = upload(client, f"a,b,c,d,label\n{rows}\n".encode())
    assert up.status_code == 201, up.get_json()
    # unpruned trees on a continuous target: megabytes per tree, hundreds of trees
    big = enqueue(
        client,
        "big",
        dataset=up.get_json()["id"],
        algorithm="random_forest",
        params={"n_estimators": 400},
    )
    quick = enqueue(client, "quick", **QUICK)
    failed = finished(client, big, 120, w)
    assert failed["status"] == "failed", failed
    assert f"more than {int(baseline + 100)} MB (JOB_MEMORY_MB)" in failed["error"], failed
    assert finished(client, quick, 60, w)["status"] == "succeeded"
    assert w.proc.poll() is None


def test_cancelling_a_running_job_stops_its_fit(client, workers):
    w = workers(JOB_MEMORY_MB="3000")
    w.wait_started()
    running = enqueue(client, "slow", **LONG)
    child = fitting_child(client, running, w)
    # the kernel picks the fit first, and the fit carries its address-space limit
    assert Path(f"/proc/{child}/oom_score_adj").read_text().strip() == "1000"
    limits = Path(f"/proc/{child}/limits").read_text()
    assert re.search(rf"Max address space\s+{3000 * 1024 * 1024}\s+{3000 * 1024 * 1024}", limits)

    res = client.post(f"/api/v1/jobs/{running}/cancel", headers=AUTH)
    assert res.status_code == 202, res.get_json()
    assert res.get_json()["status"] == "running" and res.get_json()["cancel_requested_at"]
    done = finished(client, running, 15, w)
    assert done["status"] == "cancelled" and done["error"] == "cancelled while running", done
    assert wait_for(lambda: gone(child), 10, lambda: f"fit {child} still running")
    again = client.post(f"/api/v1/jobs/{running}/cancel", headers=AUTH)
    assert again.status_code == 409 and "cancelled" in again.get_json()["message"]

    quick = enqueue(client, "quick", **QUICK)
    assert finished(client, quick, 60, w)["status"] == "succeeded"
    assert client.get("/api/v1/models/slow").status_code == 404


def test_a_sigkilled_worker_leaves_no_fit_behind(client, workers):
    w = workers()
    w.wait_started()
    running = enqueue(client, "slow", **LONG)
    child = fitting_child(client, running, w)
    os.kill(w.pid, signal.SIGKILL)
    w.proc.wait(10)
    assert wait_for(lambda: gone(child), 10, lambda: f"fit {child} outlived its worker")
