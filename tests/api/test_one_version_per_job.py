"""A job registers at most one version, whatever crashes when: the version row carries
the job id (unique), and a retried job that finds its version just finishes. SQLite and
PostgreSQL; the crash is a real worker process exiting right after registration."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.db.models import ModelVersion
from app.services import services_of
from tests.api import test_workers
from tests.api.test_workers import enqueue, job, wait_for

workers = test_workers.workers  # real worker processes, stopped after the test

SPEC = {"dataset": "iris", "algorithm": "decision_tree"}


def test_registering_twice_for_one_job_answers_the_first_version(app, iris_models):
    services = services_of(app)
    queued = services.queue.enqueue("flowers", SPEC)
    first = services.registry.add_estimator("flowers", iris_models["tree"], job_id=queued["id"])
    again = services.registry.add_estimator("flowers", iris_models["tree"], job_id=queued["id"])
    assert again["version"] == first["version"] == 1
    assert services.registry.version_of_job(queued["id"])["version"] == 1
    with services.db.session() as s:
        rows = s.scalars(select(ModelVersion)).all()
        assert [(r.version, r.job_id) for r in rows] == [(1, queued["id"])]


def test_versions_without_a_job_are_not_limited(app, iris_models):
    registry = services_of(app).registry
    versions = [registry.add_estimator("flowers", iris_models["tree"])["version"] for _ in "ab"]
    assert versions == [1, 2]


def test_the_database_refuses_a_second_version_row_for_one_job(app, iris_models):
    """The guarantee is the unique constraint, not only the check before inserting."""
    from sqlalchemy.exc import IntegrityError

    services = services_of(app)
    queued = services.queue.enqueue("flowers", SPEC)
    services.registry.add_estimator("flowers", iris_models["tree"], job_id=queued["id"])
    with pytest.raises(IntegrityError), services.db.session() as s:
        row = s.scalars(select(ModelVersion)).one()
        s.add(
            ModelVersion(
                model_id=row.model_id,
                version=2,
                task=row.task,
                algorithm=row.algorithm,
                feature_schema=row.feature_schema,
                artifact_path=row.artifact_path,
                artifact_sha256=row.artifact_sha256,
                artifact_format=row.artifact_format,
                sklearn_version=row.sklearn_version,
                job_id=queued["id"],
            )
        )
        s.flush()


def test_a_worker_dying_between_registration_and_completion_leaves_one_version(
    client,
    workers,
):
    crashing = workers(MLSTACK_TEST_CRASH_AFTER_REGISTER="1")
    crashing.wait_started()
    job_id = enqueue(client, "flowers", **SPEC, promote=True)
    assert crashing.proc.wait(60) == 70, crashing.log()
    assert "crash hook" in crashing.log()
    stuck = job(client, job_id)
    assert stuck["status"] == "running" and "result_version" not in stuck, stuck
    assert len(client.get("/api/v1/models/flowers").get_json()["versions"]) == 1

    second = workers()
    done = wait_for(
        lambda: (j := job(client, job_id))["status"] in ("succeeded", "failed") and j,
        60,
        lambda: f"job not finished: {job(client, job_id)}\n{second.log()}",
    )
    assert done["status"] == "succeeded" and done["result_version"] == 1, done
    assert done["attempts"] == 2
    assert "already registered version 1" in second.log()
    versions = client.get("/api/v1/models/flowers").get_json()["versions"]
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["training"]["job_id"] == job_id
