"""The training worker: its own process (`python -m app.worker` or
`flask --app wsgi worker`), any number of them at once.

Loop: requeue jobs whose worker died, claim the oldest queued job, fit it in a child
process (app/core/training/isolation.py: JOB_TIMEOUT_SECONDS, JOB_MEMORY_MB) while a
thread keeps its heartbeat fresh, register the fitted pipeline as a new model version
carrying the job's id (promoting it when the spec asks), mark the job succeeded.
Training that raises, runs too long or needs too much memory fails the job with the
reason and the worker goes on. A cancel requested while the job runs (read from the
database about every WORKER_POLL_SECONDS) stops the child and ends it `cancelled`. A
job whose version is already registered (its worker died right after) just succeeds.

Signals: the first SIGTERM/SIGINT gives the current job WORKER_STOP_GRACE_SECONDS
(default 20) to finish, then kills its training process and hands it back to the queue
(not counted as an attempt), so the next worker starts it at once; a second signal
hands it back at once. Saving a fitted model is never interrupted. Both happen well
before supervisord's stopwaitsecs (60 s) would SIGKILL the worker. A SIGKILLed
worker's job is retried by another worker once its heartbeat is older than
JOB_HEARTBEAT_TIMEOUT."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from app.config import config_from_env
from app.core import training
from app.core.datasets import DatasetStore
from app.core.errors import DatabaseUnavailable, ServiceError
from app.core.queue import JobQueue
from app.core.registry import Registry
from app.core.training.isolation import ChildLimits, FitFailed, prepare, run_in_child
from app.core.training.limits import DEFAULT_LIMITS, TrainingLimits
from app.services import Services, build_services

log = logging.getLogger("app.worker")  # not __main__ under `python -m app.worker`


class Interrupted(BaseException):
    """Raised in the main thread by a second stop signal: abandon the current job."""


class LostJob(Exception):
    """The job was taken from this worker (requeued while it was stalled)."""


class Cancelled(Exception):
    """An admin cancelled the job while it ran."""


class Heartbeat:
    """Keeps a running job's heartbeat fresh from a background thread while the main
    thread trains (scikit-learn releases the GIL in its heavy loops)."""

    def __init__(self, queue: JobQueue, job_id: int, worker_id: str, interval: float):
        self.queue, self.job_id, self.worker_id, self.interval = queue, job_id, worker_id, interval
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            try:
                if not self.queue.heartbeat(self.job_id, self.worker_id):
                    self.lost = True
                    log.warning("job %s is no longer held by this worker", self.job_id)
                    return
            except (DatabaseUnavailable, SQLAlchemyError) as exc:  # keep trying: it may come back
                log.warning("heartbeat for job %s failed: %s", self.job_id, type(exc).__name__)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        self._thread.join()


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        registry: Registry,
        datasets: DatasetStore,
        worker_id: str | None = None,
        poll_seconds: float = 1.0,
        stop_grace_seconds: float = 20.0,
        limits: TrainingLimits = DEFAULT_LIMITS,
        child_limits: ChildLimits | None = None,
    ):
        self.queue = queue
        self.registry = registry
        self.datasets = datasets
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll_seconds = poll_seconds
        self.heartbeat_interval = max(0.2, queue.heartbeat_timeout / 4)
        self.stopping = False
        self._busy = False
        self._saving = False
        self.stop_grace = stop_grace_seconds
        self.crash_after_register = False
        self.limits = limits
        self.child_limits = child_limits or ChildLimits(3600.0, 4096, limits.n_jobs)

    @classmethod
    def from_services(cls, services: Services) -> Worker:
        config = services.config
        limits = TrainingLimits.from_settings(config)
        return cls(
            services.queue,
            services.registry,
            services.datasets,
            poll_seconds=config.WORKER_POLL_SECONDS,
            stop_grace_seconds=config.WORKER_STOP_GRACE_SECONDS,
            limits=limits,
            child_limits=ChildLimits(
                config.JOB_TIMEOUT_SECONDS, config.JOB_MEMORY_MB, limits.n_jobs
            ),
        )

    # ---- signals ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGALRM, self._on_grace_over)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stopping and self._busy:
            self._interrupt(f"second {name}")
            return
        self.stopping = True
        if not self._busy:
            log.info("%s: exiting", name)
            return
        log.info(
            "%s: the current job has %g s to finish, then it goes back to the queue",
            name,
            self.stop_grace,
        )
        # SIGALRM (below) interrupts the training in the main thread when the grace is over
        signal.setitimer(signal.ITIMER_REAL, max(self.stop_grace, 0.001))

    def _on_grace_over(self, _signum: int, _frame: Any) -> None:
        if self._busy:
            self._interrupt(f"{self.stop_grace:g} s stop grace over")

    def _interrupt(self, why: str) -> None:
        if self._saving:  # a model half registered is worse than a late exit: let it finish
            log.warning("%s: the job is being saved; finishing that first", why)
            return
        log.warning("%s: handing the current job back to the queue", why)
        raise Interrupted()

    # ---- loop ----------------------------------------------------------------------------
    def run(self, max_jobs: int | None = None) -> int:
        """Work until stopped (or `max_jobs` processed); returns the number processed."""
        prepare()  # the forkserver that fits run in, ready before the first job
        log.info(
            "worker %s started (heartbeat timeout %g s; a fit gets %g s and %s MB)",
            self.worker_id,
            self.queue.heartbeat_timeout,
            self.child_limits.timeout_seconds,
            self.child_limits.memory_mb or "unlimited",
        )
        done = 0
        last_sweep = float("-inf")
        while not self.stopping and (max_jobs is None or done < max_jobs):
            try:
                now = time.monotonic()
                if now - last_sweep >= min(self.queue.heartbeat_timeout / 2, 30):
                    self.queue.requeue_stale()
                    last_sweep = now
                if self.run_one():
                    done += 1
                    continue
            except (DatabaseUnavailable, SQLAlchemyError) as exc:
                log.warning("database unavailable (%s); retrying", type(exc).__name__)
            self._sleep(self.poll_seconds)
        log.info("worker %s stopped after %d job(s)", self.worker_id, done)
        return done

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.1, left))

    def run_one(self) -> bool:
        """Claim and process one job; False when the queue is empty."""
        job = self.queue.claim(self.worker_id)
        if job is None:
            return False
        self._busy = True
        try:
            self._process(job)
        except Interrupted:
            self._busy = False  # no signal interrupts the hand-back itself
            self.queue.release(
                job["id"],
                self.worker_id,
                "returned to the queue: its worker was stopped mid-training",
            )
            log.warning("job %s returned to the queue", job["id"])
            self.stopping = True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)  # no grace timer outlives its job
            self._busy = self._saving = False
        return True

    def _process(self, job: dict[str, Any]) -> None:
        job_id, spec = job["id"], job["spec"]

        def on_stage(stage: str) -> None:
            if not self.queue.set_stage(job_id, self.worker_id, stage):
                raise LostJob(f"job {job_id} was taken from this worker")

        registered = self.registry.version_of_job(job_id)
        if registered is not None:  # an earlier attempt registered it, then crashed
            log.warning("job %s already registered version %s", job_id, registered["version"])
            self.queue.succeed(job_id, self.worker_id, registered["version"])
            return
        try:
            with Heartbeat(self.queue, job_id, self.worker_id, self.heartbeat_interval) as beat:
                result = self._fit(job, beat, on_stage)
                on_stage("saving")
                self._saving = True
                if beat.lost:
                    raise LostJob(f"job {job_id} was taken from this worker")
                version = self.registry.add_estimator(
                    job["model"],
                    result.pipeline,
                    schema=result.schema,
                    metrics=result.metrics,
                    training={**result.training, "job_id": job_id},
                    algorithm=result.algorithm,
                    promote=bool(spec.get("promote")),
                    job_id=job_id,
                )
                self._crash_hook()
        except LostJob as exc:
            log.warning("%s; leaving it to its new owner", exc)
            return
        except Cancelled:
            self.queue.finish_cancelled(job_id, self.worker_id)
            return
        except Interrupted:
            raise
        except FitFailed as exc:
            if exc.detail:
                log.error("job %s failed in its training process:\n%s", job_id, exc.detail)
            self.queue.fail(job_id, self.worker_id, exc.message)
            return
        except ServiceError as exc:
            self.queue.fail(job_id, self.worker_id, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a bad job must not stop the worker
            log.exception("job %s failed", job_id)
            self.queue.fail(job_id, self.worker_id, f"{type(exc).__name__}: {exc}")
            return
        self.queue.succeed(job_id, self.worker_id, version["version"])

    def _fit(
        self, job: dict[str, Any], beat: Heartbeat, on_stage: Callable[[str], None]
    ) -> training.TrainingResult:
        """The job's fit, in a child process within the child limits; stopped early
        when the job is lost or an admin cancels it."""
        job_id, spec = job["id"], job["spec"]
        looked = time.monotonic()

        def check() -> None:
            nonlocal looked
            if beat.lost:
                raise LostJob(f"job {job_id} was taken from this worker")
            if time.monotonic() - looked < self.poll_seconds:
                return
            looked = time.monotonic()
            self._raise_if_cancelled(job_id)

        result: training.TrainingResult = run_in_child(
            training.train,
            (spec, self.datasets.loader(spec["dataset"])),
            {"limits": self.limits},
            self.child_limits,
            on_stage=on_stage,
            check=check,
        )
        self._raise_if_cancelled(job_id)  # asked while the fit was finishing?
        return result

    def _raise_if_cancelled(self, job_id: int) -> None:
        try:
            requested = self.queue.cancel_requested(job_id)
        except (DatabaseUnavailable, SQLAlchemyError):  # read again later; the beat copes
            return
        if requested:
            log.info("job %s: cancel requested, stopping its fit", job_id)
            raise Cancelled()

    def _crash_hook(self) -> None:
        """Tests only (TESTING config): die between registering a version and
        completing its job, as a SIGKILL or power cut there would."""
        if self.crash_after_register:
            log.warning("crash hook: exiting right after registering the version")
            os._exit(70)


def main() -> None:
    from app.logs import configure_logging

    config = config_from_env()
    configure_logging(config.LOGGING_CONF, config.LOG_DIR)
    worker = Worker.from_services(build_services(config))
    worker.crash_after_register = config.TESTING and bool(
        os.environ.get("MLSTACK_TEST_CRASH_AFTER_REGISTER")
    )
    worker.install_signal_handlers()
    worker.run()


if __name__ == "__main__":
    main()
