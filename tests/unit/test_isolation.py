"""The child process a fit runs in (no database, no worker): its answer and stages come
back, a timeout or the memory limit stops it with the reason, its errors become the
job's reason, a check that raises stops it, and it ignores the group's SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from app.core.errors import InvalidInput
from app.core.training.isolation import (
    ChildLimits,
    FitFailed,
    FitOutOfMemory,
    FitTimedOut,
    run_in_child,
)

UNLIMITED = ChildLimits(timeout_seconds=60, memory_mb=0)


def answer(x, y, *, scale, on_stage):
    on_stage("loading")
    on_stage("fitting")
    return {"sum": (x + y) * scale, "pid": os.getpid()}


def sleeper(seconds, *, on_stage):
    on_stage(f"pid {os.getpid()}")
    time.sleep(seconds)
    return "slept"


def allocate(megabytes, *, on_stage):
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def address_space_mb(*, on_stage):
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) // 1024


def raises(exc, *, on_stage):
    raise exc


def run(target, args=(), kwargs=None, limits=UNLIMITED, stages=None, check=lambda: None):
    seen = [] if stages is None else stages
    return run_in_child(target, args, kwargs or {}, limits, on_stage=seen.append, check=check)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_the_answer_and_the_stages_come_back_from_another_process():
    stages = []
    out = run(answer, (2, 3), {"scale": 10}, stages=stages)
    assert out["sum"] == 50 and out["pid"] != os.getpid()
    assert stages == ["loading", "fitting"]
    assert gone(out["pid"])


def test_a_fit_beyond_the_timeout_is_stopped_with_the_reason():
    stages = []
    started = time.monotonic()
    with pytest.raises(FitTimedOut, match=r"longer than 1 s \(JOB_TIMEOUT_SECONDS\)"):
        run(sleeper, (30,), limits=ChildLimits(1, 0), stages=stages)
    assert time.monotonic() - started < 5
    pid = int(stages[0].split()[1])
    assert gone(pid)


def test_a_fit_beyond_the_memory_limit_gets_a_memory_error_in_the_child_only():
    limit = run(address_space_mb) + 100
    with pytest.raises(FitOutOfMemory, match=rf"more than {limit} MB \(JOB_MEMORY_MB\)"):
        run(allocate, (400,), limits=ChildLimits(60, limit))
    assert run(allocate, (20,), limits=ChildLimits(60, limit)) == 20 * 1024 * 1024
    assert len(bytearray(400 * 1024 * 1024)) > 0  # this process has no such limit


def test_errors_in_the_fit_become_the_reason():
    with pytest.raises(FitFailed, match="ValueError: boom") as caught:
        run(raises, (ValueError("boom"),))
    assert "Traceback" in caught.value.detail
    with pytest.raises(FitFailed) as service:
        run(raises, (InvalidInput("the training split holds a single class"),))
    assert service.value.message == "the training split holds a single class"


def test_a_check_that_raises_stops_the_child():
    stages = []

    class Stop(Exception):
        pass

    def check():
        if stages:
            raise Stop()

    with pytest.raises(Stop):
        run(sleeper, (30,), stages=stages, check=check)
    assert wait(lambda: gone(int(stages[0].split()[1])))


def test_the_child_ignores_sigterm_sent_to_the_process_group():
    stages = []

    def terminate_once():
        if stages and not terminated:
            os.kill(int(stages[0].split()[1]), signal.SIGTERM)
            terminated.append(True)

    terminated: list[bool] = []
    assert run(sleeper, (1,), stages=stages, check=terminate_once) == "slept"
    assert terminated


def wait(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False
