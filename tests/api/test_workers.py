"""Real worker processes (`python -m app.worker`) on SQLite and PostgreSQL: several
workers never run a job twice, a SIGKILLed worker's job is finished by another,
SIGTERM lets the current job finish within the stop grace and hands it back to the
queue after it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import AUTH

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_TIMEOUT = 3
# long enough to be caught mid-fit: a few seconds on one core
SLOW = {
    "dataset": "breast_cancer",
    "algorithm": "gradient_boosting",
    "params": {"n_estimators": 1500},
}


class WorkerProcess:
    def __init__(self, config, log_path: Path, extra_env: dict[str, str] | None = None):
        env = {
            **os.environ,
            "MLSTACK_ENV": "testing",
            "DATABASE_URL": config.DATABASE_URL,
            "MLSTACK_VAR": str(config.VAR_DIR),
            "MODEL_STORE": str(config.MODEL_STORE),
            "DATASET_STORE": str(config.DATASET_STORE),
            "LOG_DIR": str(config.LOG_DIR),
            "JOB_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "WORKER_POLL_SECONDS": "0.1",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.worker"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 60) -> None:
        wait_for(
            lambda: " started (heartbeat" in self.log(),
            timeout,
            lambda: f"worker {self.pid} did not start:\n{self.log()}",
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def wait_for(predicate, timeout: float, describe=lambda: "timed out"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(describe())


@pytest.fixture
def workers(config, tmp_path):
    started: list[WorkerProcess] = []

    def start(**extra_env: str) -> WorkerProcess:
        w = WorkerProcess(config, tmp_path / f"worker{len(started)}.log", extra_env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def job(client, job_id: int) -> dict:
    return client.get(f"/api/v1/jobs/{job_id}").get_json()


def enqueue(client, name: str, **spec) -> int:
    res = client.post(f"/api/v1/models/{name}/train", json=spec, headers=AUTH)
    assert res.status_code == 202, res.get_json()
    return res.get_json()["id"]


def test_two_worker_processes_run_each_of_many_jobs_exactly_once(client, workers):
    pool = [workers(), workers()]
    for w in pool:
        w.wait_started()
    ids = [
        enqueue(client, "many", dataset="iris", algorithm="decision_tree", random_state=i)
        for i in range(16)
    ]
    wait_for(
        lambda: all(job(client, i)["status"] in ("succeeded", "failed") for i in ids),
        120,
        lambda: (
            "jobs did not finish: "
            + str([job(client, i)["status"] for i in ids])
            + "\n"
            + "\n".join(w.log()[-2000:] for w in pool)
        ),
    )
    jobs = [job(client, i) for i in ids]
    assert all(j["status"] == "succeeded" and j["attempts"] == 1 for j in jobs), jobs
    assert sorted(j["result_version"] for j in jobs) == list(range(1, 17))
    model = client.get("/api/v1/models/many").get_json()
    assert len(model["versions"]) == 16  # a job run twice would have registered a 17th
    owners = {j["worker_id"].split(":")[1] for j in jobs}
    assert owners == {str(w.pid) for w in pool}


def test_a_sigkilled_workers_job_is_finished_by_another_worker(client, workers):
    first = workers()
    first.wait_started()
    job_id = enqueue(client, "slow", **SLOW)
    wait_for(
        lambda: job(client, job_id).get("stage") == "fitting",
        60,
        lambda: f"job never reached fitting: {job(client, job_id)}\n{first.log()}",
    )
    os.kill(first.pid, signal.SIGKILL)
    first.proc.wait(10)
    assert job(client, job_id)["status"] == "running"  # nobody knows yet

    second = workers()
    done = wait_for(
        lambda: (j := job(client, job_id))["status"] in ("succeeded", "failed") and j,
        120,
        lambda: f"job not retried: {job(client, job_id)}\n{second.log()}",
    )
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2 and done["worker_id"].split(":")[1] == str(second.pid)
    assert "error" not in done  # the retry note is cleared on success
    assert len(client.get("/api/v1/models/slow").get_json()["versions"]) == 1
    pred = client.post(
        "/api/v1/models/slow/predict",
        json={
            "instances": [
                client.get("/api/v1/models/slow/schema").get_json()["example"]["instances"][0]
            ]
        },
    )
    assert pred.status_code == 200 and pred.get_json()["predictions"][0] in ("malignant", "benign")


def test_sigterm_lets_the_current_job_finish_then_the_worker_exits(client, workers):
    w = workers()
    w.wait_started()
    running = enqueue(client, "slow", **SLOW)
    wait_for(
        lambda: job(client, running).get("stage") == "fitting",
        60,
        lambda: f"job never reached fitting: {job(client, running)}\n{w.log()}",
    )
    waiting = enqueue(client, "other", dataset="iris", algorithm="decision_tree")
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(60) == 0, w.log()
    assert job(client, running)["status"] == "succeeded"
    assert job(client, waiting)["status"] == "queued"  # left for the next worker


def test_sigterm_hands_a_long_job_back_when_the_stop_grace_is_over(client, workers):
    w = workers(WORKER_STOP_GRACE_SECONDS="1")
    w.wait_started()
    job_id = enqueue(client, "slow", **{**SLOW, "params": {"n_estimators": 10_000}})
    wait_for(
        lambda: job(client, job_id).get("stage") == "fitting",
        60,
        lambda: f"job never reached fitting: {job(client, job_id)}\n{w.log()}",
    )
    signalled = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0, w.log()
    # well inside supervisord's stopwaitsecs (60 s): the grace, then the hand-back
    assert time.monotonic() - signalled < 10, w.log()
    back = job(client, job_id)
    assert back["status"] == "queued" and back["attempts"] == 0, back
    assert "worker was stopped" in back["error"]
    assert "1 s stop grace over: handing the current job back" in w.log()

    # the next worker starts it at once (no heartbeat timeout to wait for)
    second = workers()
    second.wait_started()
    wait_for(
        lambda: job(client, job_id)["status"] == "running",
        10,
        lambda: f"not claimed again: {job(client, job_id)}\n{second.log()}",
    )
    assert job(client, job_id)["attempts"] == 1


def test_a_second_sigterm_hands_the_job_back_at_once(client, workers):
    w = workers()  # default grace (20 s)
    w.wait_started()
    job_id = enqueue(client, "slow", **{**SLOW, "params": {"n_estimators": 10_000}})
    wait_for(
        lambda: job(client, job_id).get("stage") == "fitting",
        60,
        lambda: f"job never reached fitting: {job(client, job_id)}\n{w.log()}",
    )
    signalled = time.monotonic()
    w.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    w.proc.send_signal(signal.SIGTERM)
    assert w.proc.wait(30) == 0, w.log()
    assert time.monotonic() - signalled < 8, w.log()
    back = job(client, job_id)
    assert back["status"] == "queued" and back["attempts"] == 0, back
