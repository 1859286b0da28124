"""app.core.queue on SQLite and on a real PostgreSQL server: claims, heartbeats,
retries after a lost worker, cancellation."""

from __future__ import annotations

import threading
import time

import pytest

from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.queue import JobQueue
from app.db import Database

SPEC = {"dataset": "iris", "algorithm": "decision_tree"}


@pytest.fixture
def db(database_url):
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def queue(db):
    return JobQueue(db, heartbeat_timeout=60, max_attempts=2)


def test_jobs_are_claimed_oldest_first_and_only_once(queue):
    first = queue.enqueue("m", SPEC)
    second = queue.enqueue("m", SPEC)
    assert first["status"] == "queued" and first["attempts"] == 0
    a = queue.claim("w1")
    b = queue.claim("w2")
    assert (a["id"], b["id"]) == (first["id"], second["id"])
    assert a["status"] == "running" and a["worker_id"] == "w1" and a["attempts"] == 1
    assert a["started_at"] is not None and a["heartbeat_at"] is not None
    assert queue.claim("w3") is None


def test_only_the_owner_updates_a_running_job(queue):
    job = queue.enqueue("m", SPEC)
    queue.claim("w1")
    assert not queue.set_stage(job["id"], "w2", "fitting")
    assert queue.set_stage(job["id"], "w1", "fitting")
    assert queue.get(job["id"])["stage"] == "fitting"
    assert not queue.succeed(job["id"], "w2", 3)
    assert queue.succeed(job["id"], "w1", 3)
    done = queue.get(job["id"])
    assert done["status"] == "succeeded" and done["result_version"] == 3 and done["finished_at"]
    assert not queue.heartbeat(job["id"], "w1")  # finished jobs take no more writes


def test_a_failed_job_keeps_its_error(queue):
    job = queue.enqueue("m", SPEC)
    queue.claim("w1")
    assert queue.fail(job["id"], "w1", "ValueError: boom")
    assert queue.get(job["id"])["status"] == "failed"
    assert queue.get(job["id"])["error"] == "ValueError: boom"


def test_stale_jobs_are_retried_then_failed_with_the_reason(queue):
    queue.heartbeat_timeout = 0.2
    job = queue.enqueue("m", SPEC)
    queue.claim("w1")
    time.sleep(0.4)
    assert queue.requeue_stale() == (1, 0)
    again = queue.get(job["id"])
    assert again["status"] == "queued" and again["worker_id"] is None
    assert "heartbeat" in again["error"]
    assert queue.claim("w2")["attempts"] == 2
    assert not queue.succeed(job["id"], "w1", 1)  # the lost worker cannot finish it
    time.sleep(0.4)
    assert queue.requeue_stale() == (0, 1)
    dead = queue.get(job["id"])
    assert dead["status"] == "failed" and "gave up" in dead["error"]


def test_fresh_heartbeats_keep_a_job(queue):
    queue.heartbeat_timeout = 0.5
    job = queue.enqueue("m", SPEC)
    queue.claim("w1")
    for _ in range(4):
        time.sleep(0.2)
        assert queue.heartbeat(job["id"], "w1")
        assert queue.requeue_stale() == (0, 0)


def test_a_released_job_goes_back_without_using_an_attempt(queue):
    job = queue.enqueue("m", SPEC)
    queue.claim("w1")
    assert queue.release(job["id"], "w1", "worker stopped")
    back = queue.get(job["id"])
    assert back["status"] == "queued" and back["attempts"] == 0


def test_queued_jobs_are_cancelled_and_running_ones_asked_to_stop(queue):
    a = queue.enqueue("m", SPEC)
    b = queue.enqueue("m", SPEC)
    assert queue.cancel(a["id"])["status"] == "cancelled"
    assert queue.claim("w1")["id"] == b["id"]  # cancelled jobs are never claimed
    assert not queue.cancel_requested(b["id"])
    asked = queue.cancel(b["id"])
    assert asked["status"] == "running" and asked["cancel_requested_at"] is not None
    assert queue.cancel(b["id"])["cancel_requested_at"] == asked["cancel_requested_at"]
    assert queue.cancel_requested(b["id"])
    assert queue.finish_cancelled(b["id"], "w1")
    done = queue.get(b["id"])
    assert done["status"] == "cancelled" and done["finished_at"] is not None
    with pytest.raises(Conflict, match="cancelled"):
        queue.cancel(b["id"])
    with pytest.raises(NotFound):
        queue.cancel(9999)


def test_a_job_handed_back_or_lost_with_a_cancel_requested_ends_cancelled(queue):
    queue.heartbeat_timeout = 0.0
    handed = queue.enqueue("m", SPEC)
    queue.claim("w1")
    queue.cancel(handed["id"])
    assert queue.release(handed["id"], "w1", "worker stopped")
    assert queue.get(handed["id"])["status"] == "cancelled"
    lost = queue.enqueue("m", SPEC)
    queue.claim("w2")
    queue.cancel(lost["id"])
    queue.requeue_stale()
    assert queue.get(lost["id"])["status"] == "cancelled"
    assert queue.claim("w3") is None


def test_listing_filters_by_status_and_model(queue):
    queue.enqueue("a", SPEC)
    queue.enqueue("b", SPEC)
    queue.claim("w1")
    jobs, total = queue.list(status="queued")
    assert total == 1 and jobs[0]["model"] == "b"
    jobs, total = queue.list(model="a")
    assert total == 1 and jobs[0]["status"] == "running"
    assert queue.list()[1] == 2
    with pytest.raises(InvalidInput):
        queue.list(status="done")


def test_concurrent_claims_never_hand_out_a_job_twice(queue):
    ids = {queue.enqueue("m", SPEC)["id"] for _ in range(40)}
    claimed: list[int] = []
    lock = threading.Lock()

    def work(name):
        while True:
            job = queue.claim(name)
            if job is None:
                return
            with lock:
                claimed.append(job["id"])

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
