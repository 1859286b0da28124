"""One training fit in a child process, with a wall-clock and a memory limit.

The worker must outlive any job: a fit that runs too long is killed at
`timeout_seconds`, one that needs more than `memory_mb` of address space gets a
MemoryError from the allocator (RLIMIT_AS) in the child, not in the worker, and if the
kernel must kill something for memory anyway the child has asked to be first
(oom_score_adj 1000), ahead of PostgreSQL and the web server. Either way the job fails
with the reason and the worker takes the next one.

Children come from a forkserver started once per worker (`prepare`), which has
imported scikit-learn and pandas already (`forkserver_preload`): a fresh interpreter
per job would spend seconds importing them. The forkserver and its children ignore
SIGTERM and SIGINT, which supervisord and a terminal send to the whole process group:
the worker decides when a fit stops (its stop grace), and kills the child itself. A
child also watches a pipe from its worker and exits when it closes, so a SIGKILLed
worker leaves no fit behind (the forkserver then exits with its last child)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from threadpoolctl import threadpool_limits

from app.core.errors import ServiceError

log = logging.getLogger(__name__)

PRELOAD = "app.core.training.forkserver_preload"
_TICK_SECONDS = 0.1


@dataclass(frozen=True)
class ChildLimits:
    timeout_seconds: float  # JOB_TIMEOUT_SECONDS
    memory_mb: int  # JOB_MEMORY_MB; 0: no limit
    threads: int = 1  # JOB_N_JOBS: BLAS and OpenMP threads in the child


class FitFailed(Exception):
    """The fit did not produce a result; the message says why (the job's error)."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail  # the child's traceback, for the worker's log


class FitTimedOut(FitFailed):
    pass


class FitOutOfMemory(FitFailed):
    pass


def _context() -> Any:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([PRELOAD])
    return ctx


def prepare() -> None:
    """Start the forkserver now and wait until it has imported the libraries a fit
    needs, so that the first job does not wait for it."""
    warm = _context().Process(target=_warm_up, name="fit-warm-up")
    warm.start()
    warm.join()
    warm.close()


def _warm_up() -> None:
    pass  # forked once the forkserver's preload is done: starting it is the point


def run_in_child(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    limits: ChildLimits,
    *,
    on_stage: Callable[[str], None],
    check: Callable[[], None],
) -> Any:
    """`target(*args, **kwargs, on_stage=...)` in a child process within `limits`;
    its return value (pickled back), or FitFailed. `on_stage` hears the stages the
    target reports; `check` is called about every 0.1 s while waiting and may raise to
    stop the child (a cancel, a lost job, a stop signal): the child is always stopped
    before this returns or raises."""
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    lifeline, keep_alive = ctx.Pipe(duplex=False)  # closed when this process ends
    child = ctx.Process(
        target=_child_main,
        args=(sender, lifeline, target, args, dict(kwargs), limits),
        name="fit",
    )
    child.start()
    sender.close()
    lifeline.close()
    log.info(
        "fitting in process %s (%g s, %s MB)",
        child.pid,
        limits.timeout_seconds,
        limits.memory_mb or "unlimited",
    )
    deadline = time.monotonic() + limits.timeout_seconds
    try:
        while True:
            if receiver.poll(_TICK_SECONDS):
                try:
                    kind, value = receiver.recv()
                except EOFError:
                    raise _died(child, limits) from None
                if kind == "stage":
                    on_stage(value)
                    continue
                return _outcome(kind, value, limits)
            check()
            if time.monotonic() > deadline:
                raise FitTimedOut(
                    f"the fit ran longer than {limits.timeout_seconds:g} s "
                    "(JOB_TIMEOUT_SECONDS) and was stopped"
                )
    finally:
        _stop(child)
        receiver.close()
        keep_alive.close()


def _outcome(kind: str, value: Any, limits: ChildLimits) -> Any:
    if kind == "result":
        return value
    if kind == "memory":
        raise FitOutOfMemory(
            f"the fit needed more than {limits.memory_mb} MB (JOB_MEMORY_MB) and was stopped",
            value,
        )
    message, detail = value
    raise FitFailed(message, detail)


def _died(child: Any, limits: ChildLimits) -> FitFailed:
    child.join(5)
    code = child.exitcode
    if code is not None and code < 0 and -code == signal.SIGKILL:
        return FitOutOfMemory(
            "the fit was killed (SIGKILL), most likely by the kernel for memory "
            f"(JOB_MEMORY_MB is {limits.memory_mb})"
        )
    how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else code
    return FitFailed(
        f"the training process died without an answer (exit: {how}); out of memory "
        f"counts too: JOB_MEMORY_MB is {limits.memory_mb}"
    )


def _stop(child: Any) -> None:
    if child.is_alive():
        child.kill()
    child.join(10)
    child.close()


# ---- in the child ---------------------------------------------------------------------
def _child_main(
    conn: Connection,
    lifeline: Connection,
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    limits: ChildLimits,
) -> None:
    threading.Thread(target=_exit_with_worker, args=(lifeline,), daemon=True).start()
    _volunteer_for_the_oom_killer()
    if limits.memory_mb > 0:
        size = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    try:
        with threadpool_limits(limits=max(1, limits.threads)):
            result = target(*args, **kwargs, on_stage=lambda stage: conn.send(("stage", stage)))
        conn.send(("result", result))
    except MemoryError:
        conn.send(("memory", traceback.format_exc(limit=-8)))
    except ServiceError as exc:  # a problem with the job itself: its message is the reason
        conn.send(("error", (exc.message, None)))
    except Exception as exc:  # noqa: BLE001 - every failure goes back as the job's reason
        conn.send(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
    finally:
        conn.close()


def _exit_with_worker(lifeline: Connection) -> None:
    """Nothing is ever sent on the lifeline: it reads EOF when the worker is gone."""
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(1)


def _volunteer_for_the_oom_killer() -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
