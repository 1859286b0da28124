"""The training queue: jobs are rows of the `jobs` table, in the database the stack
already runs, so an accepted job survives any process dying.

    queued -> running -> succeeded | failed | cancelled     (queued -> cancelled)

An admin cancels a queued job at once; a running one gets `cancel_requested_at`, which
its worker reads while it waits for the fit: it stops the fit and ends the job
`cancelled` (a job whose worker died, or that is handed back, with a cancel requested
ends `cancelled` too, rather than going back to the queue).

A worker claims the oldest queued job atomically, then proves it is alive by updating
`heartbeat_at`. A running job whose heartbeat is older than `heartbeat_timeout` lost its
worker (SIGKILL, OOM, host gone): `requeue_stale` puts it back in the queue, or fails it
with the reason once it has used `max_attempts`. Every write a worker makes to a running
job is conditioned on `worker_id`, so a worker that lost its job (requeued while it was
stalled) finds out instead of overwriting another worker's result.

Written by hand rather than with a queue library: procrastinate and pgqueuer are
PostgreSQL-only and the default deployment is SQLite; what is needed here (claim,
heartbeat, retry) is a few statements on a table the schema already has.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Update, case, func, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound
from app.db import Database
from app.db.models import Job

log = logging.getLogger(__name__)

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_ID = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL


def _check_id(job_id: int) -> int:
    if not 0 < job_id <= MAX_ID:
        raise NotFound(f"job {job_id} not found")
    return job_id


def _now() -> datetime:
    return datetime.now(UTC)


def _rows_updated(s: Session, statement: Update) -> int:
    # Session.execute is typed as returning a Result; an UPDATE's is a CursorResult
    return cast(CursorResult[Any], s.execute(statement)).rowcount


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "model": job.model_name,
        "status": job.status,
        "stage": job.stage,
        "spec": job.spec,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "worker_id": job.worker_id,
        "error": job.error,
        "result_version": job.result_version,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "heartbeat_at": job.heartbeat_at,
        "finished_at": job.finished_at,
        "cancel_requested_at": job.cancel_requested_at,
    }


class JobQueue:
    def __init__(self, db: Database, heartbeat_timeout: float = 60.0, max_attempts: int = 3):
        self.db = db
        self.heartbeat_timeout = heartbeat_timeout
        self.max_attempts = max_attempts

    @property
    def _postgres(self) -> bool:
        return self.db.engine.dialect.name == "postgresql"

    # ---- producer side ---------------------------------------------------------
    def enqueue(self, model_name: str, spec: dict[str, Any], kind: str = "train") -> dict[str, Any]:
        with self.db.session() as s:
            job = Job(
                kind=kind,
                model_name=model_name,
                spec=spec,
                status="queued",
                max_attempts=self.max_attempts,
                created_at=_now(),
            )
            s.add(job)
            s.flush()
            out = job_dict(job)
        log.info("queued job %s: train %s with %s", out["id"], model_name, spec.get("algorithm"))
        return out

    def get(self, job_id: int) -> dict[str, Any]:
        _check_id(job_id)
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise NotFound(f"job {job_id} not found")
            return job_dict(job)

    def list(
        self, status: str | None = None, model: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        if status is not None and status not in STATUSES:
            raise InvalidInput(
                f"unknown status {status!r}; known: {', '.join(STATUSES)}",
                {"status": "unknown status"},
            )
        query = select(Job)
        if status:
            query = query.where(Job.status == status)
        if model:
            query = query.where(Job.model_name == model)
        with self.db.session() as s:
            total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
            jobs = s.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
            return [job_dict(j) for j in jobs], total

    def cancel(self, job_id: int) -> dict[str, Any]:
        """Cancel a queued job, or ask the worker of a running one to stop it (the job
        answered is still `running`, with `cancel_requested_at`); a finished one is a
        conflict."""
        _check_id(job_id)
        now = _now()
        with self.db.session() as s:
            cancelled = _rows_updated(
                s,
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="cancelled", finished_at=now, stage=None, cancel_requested_at=now),
            )
            requested = cancelled or _rows_updated(
                s,
                update(Job)
                .where(Job.id == job_id, Job.status == "running")
                .values(cancel_requested_at=func.coalesce(Job.cancel_requested_at, now)),
            )
            if requested == 0:
                job = s.get(Job, job_id)
                if job is None:
                    raise NotFound(f"job {job_id} not found")
                raise Conflict(
                    f"job {job_id} is {job.status}: only queued or running jobs can be cancelled"
                )
        log.info("job %s: %s", job_id, "cancelled" if cancelled else "cancel requested")
        return self.get(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        """Has an admin asked to cancel this (running) job?"""
        with self.db.session() as s:
            at = s.scalar(select(Job.cancel_requested_at).where(Job.id == job_id))
        return at is not None

    # ---- worker side -------------------------------------------------------------
    def claim(self, worker_id: str) -> dict[str, Any] | None:
        """Take the oldest queued job, or None. Atomic across processes: on PostgreSQL
        the row is locked with FOR UPDATE SKIP LOCKED inside the claiming transaction;
        on SQLite one UPDATE ... RETURNING statement picks and takes it (SQLite
        serialises writers)."""
        now = _now()
        values = dict(
            status="running",
            worker_id=worker_id,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            stage="claimed",
        )
        with self.db.session() as s:
            if self._postgres:
                job_id = s.scalar(
                    select(Job.id)
                    .where(Job.status == "queued")
                    .order_by(Job.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                if job_id is None:
                    return None
                s.execute(update(Job).where(Job.id == job_id).values(**values))
            else:
                oldest = (
                    select(Job.id)
                    .where(Job.status == "queued")
                    .order_by(Job.id)
                    .limit(1)
                    .scalar_subquery()
                )
                job_id = s.scalar(
                    update(Job)
                    .where(Job.id == oldest, Job.status == "queued")
                    .values(**values)
                    .returning(Job.id)
                )
                if job_id is None:
                    return None
            s.flush()
            job = s.get_one(Job, job_id, populate_existing=True)
            out = job_dict(job)
        log.info(
            "worker %s claimed job %s (attempt %s/%s)",
            worker_id,
            out["id"],
            out["attempts"],
            out["max_attempts"],
        )
        return out

    def _owned(self, job_id: int, owner: str, **values: Any) -> bool:
        """Update a running job only if this worker still holds it."""
        with self.db.session() as s:
            owned = update(Job).where(
                Job.id == job_id, Job.worker_id == owner, Job.status == "running"
            )
            return _rows_updated(s, owned.values(**values)) == 1

    def heartbeat(self, job_id: int, worker_id: str) -> bool:
        return self._owned(job_id, worker_id, heartbeat_at=_now())

    def set_stage(self, job_id: int, worker_id: str, stage: str) -> bool:
        return self._owned(job_id, worker_id, stage=stage, heartbeat_at=_now())

    def succeed(self, job_id: int, worker_id: str, result_version: int) -> bool:
        ok = self._owned(
            job_id,
            worker_id,
            status="succeeded",
            stage="done",
            error=None,
            result_version=result_version,
            finished_at=_now(),
        )
        log.info("job %s succeeded: version %s", job_id, result_version)
        return ok

    def fail(self, job_id: int, worker_id: str, error: str) -> bool:
        ok = self._owned(job_id, worker_id, status="failed", error=error[:4000], finished_at=_now())
        log.info("job %s failed: %s", job_id, error[:200])
        return ok

    def finish_cancelled(self, job_id: int, worker_id: str) -> bool:
        """The worker stopped the fit of a job whose cancel was requested."""
        ok = self._owned(
            job_id,
            worker_id,
            status="cancelled",
            error="cancelled while running",
            finished_at=_now(),
        )
        log.info("job %s cancelled while running", job_id)
        return ok

    def release(self, job_id: int, worker_id: str, reason: str) -> bool:
        """Give a job back to the queue without counting the attempt (a worker asked
        to stop before it could finish); one with a cancel requested ends cancelled."""
        cancel = Job.cancel_requested_at.is_not(None)
        return self._owned(
            job_id,
            worker_id,
            status=case((cancel, "cancelled"), else_="queued"),
            finished_at=case((cancel, _now()), else_=None),
            worker_id=None,
            stage=None,
            started_at=None,
            heartbeat_at=None,
            attempts=Job.attempts - 1,
            error=reason[:4000],
        )

    def requeue_stale(self) -> tuple[int, int]:
        """Running jobs whose worker stopped sending heartbeats: back to the queue while
        they have attempts left, failed otherwise. Returns (requeued, failed)."""
        cutoff = _now() - timedelta(seconds=self.heartbeat_timeout)
        stale = (Job.status == "running") & (Job.heartbeat_at < cutoff)
        reason = f"its worker stopped sending heartbeats for more than {self.heartbeat_timeout:g} s"
        with self.db.session() as s:
            cancelled = _rows_updated(
                s,
                update(Job)
                .where(stale, Job.cancel_requested_at.is_not(None))
                .values(status="cancelled", finished_at=_now(), error="cancelled: " + reason),
            )
            requeued = _rows_updated(
                s,
                update(Job)
                .where(stale, Job.attempts < Job.max_attempts)
                .values(
                    status="queued",
                    worker_id=None,
                    stage=None,
                    heartbeat_at=None,
                    error="attempt lost, retrying: " + reason,
                ),
            )
            failed = _rows_updated(
                s,
                update(Job)
                .where(stale, Job.attempts >= Job.max_attempts)
                .values(
                    status="failed",
                    finished_at=_now(),
                    error="gave up after the last attempt: " + reason,
                ),
            )
        if requeued or failed or cancelled:
            log.warning(
                "stale jobs: %d requeued, %d failed, %d cancelled", requeued, failed, cancelled
            )
        return requeued, failed
