"""CPU used by the stack's processes during a load, from /proc: cores used by each
gunicorn worker (CPU seconds over wall seconds), each worker's share of the workers'
total, and cores used by the whole stack (every supervised program and its
descendants). Shows whether both cores are busy and whether one worker does the work."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TypedDict

from tests.stackrun import descendants

TICKS = os.sysconf("SC_CLK_TCK")


class CpuSplit(TypedDict):
    worker_cores: list[float]  # per gunicorn worker, busiest first
    worker_share: list[float]  # per worker, of the workers' total, busiest first
    # per worker (same order): on a CPU or waiting for one (runnable), over wall time.
    # On a shared machine cores used fall with the neighbours' load; this does not: a
    # worker below 1.0 was idle or blocked (a lock, the GIL, I/O) part of the time.
    worker_runnable: list[float]
    stack_cores: float  # every stack process (nginx, gunicorn, postgres, worker)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def runnable_seconds(pid: int) -> float:
    """Seconds the threads of `pid` ran or waited on a run queue (/proc/.../schedstat:
    nanoseconds on the CPU, nanoseconds runnable but waiting)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            ran, waited = stat.read_text().split()[:2]
        except (OSError, ValueError):
            continue
        total += int(ran) + int(waited)
    return total / 1e9


class CpuMeter:
    """`meter.start()`, the load, `meter.stop()`: the split over that interval. The
    processes are listed at start (a worker recycled meanwhile counts until it exits)."""

    def __init__(self, programs: dict[str, int]) -> None:
        self.programs = programs
        self._workers: dict[int, float] = {}
        self._runnable: dict[int, float] = {}
        self._stack: dict[int, float] = {}
        self._start = 0.0

    def start(self) -> None:
        self._workers = {p: cpu_seconds(p) for p in sorted(descendants(self.programs["gunicorn"]))}
        self._runnable = {p: runnable_seconds(p) for p in self._workers}
        stack = [q for p in self.programs.values() for q in [p, *sorted(descendants(p))]]
        self._stack = {p: cpu_seconds(p) for p in stack}
        self._start = time.monotonic()

    def stop(self) -> CpuSplit:
        wall = time.monotonic() - self._start
        per_worker = sorted(
            (
                (max(0.0, cpu_seconds(p) - t0), runnable_seconds(p) - self._runnable[p])
                for p, t0 in self._workers.items()
            ),
            reverse=True,
        )
        used = [u for u, _ in per_worker]
        total = sum(used) or 1.0
        stack = sum(max(0.0, cpu_seconds(p) - t0) for p, t0 in self._stack.items())
        return CpuSplit(
            worker_cores=[round(u / wall, 2) for u in used],
            worker_share=[round(u / total, 2) for u in used],
            worker_runnable=[round(max(0.0, r) / wall, 2) for _, r in per_worker],
            stack_cores=round(stack / wall, 2),
        )
