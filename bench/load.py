"""Load through HTTP with wrk (bench/post.lua), from a second process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import NotRequired, TypedDict

from bench.cpu import CpuMeter, CpuSplit

POST_LUA = Path(__file__).with_name("post.lua")
CONNECTIONS = 16
BATCH_CONNECTIONS = 4
WRK_THREADS = 2


@dataclass(frozen=True)
class LoadSettings:
    """Seconds of warm-up, seconds per timed run, and how many timed runs."""

    duration: float
    warmup: float
    repeat: int


class WrkRun(TypedDict):
    req_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


class Measured(WrkRun):
    runs: list[float]  # req/s of every timed run
    cpu: NotRequired[CpuSplit]  # over the timed runs, when a meter was given


def wrk(
    url: str,
    body: Path,
    duration: float,
    connections: int,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> WrkRun:
    """One wrk run POSTing `body` to `url` (with `headers` besides Content-Type)."""
    extra = "\n".join(f"{name}: {value}" for name, value in (headers or {}).items())
    env = dict(os.environ, BODY=str(body), CONTENT_TYPE=content_type, HEADERS=extra)
    out = subprocess.run(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(POST_LUA),
            url,
        ],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")
    r = json.loads(line[len("RESULT ") :])
    seconds = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    return WrkRun(
        req_per_s=r["requests"] / seconds,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        errors=errors,
        requests=r["requests"],
    )


def load(
    url: str,
    body: Path,
    settings: LoadSettings,
    connections: int = CONNECTIONS,
    content_type: str = "application/json",
    cpu: CpuMeter | None = None,
    headers: dict[str, str] | None = None,
) -> Measured:
    """Warm-up, then `repeat` timed runs; the median run (by req/s) and every run, and
    the CPU split over the timed runs when `cpu` is given."""
    wrk(url, body, settings.warmup, connections, content_type, headers)
    if cpu is not None:
        cpu.start()
    runs = [
        wrk(url, body, settings.duration, connections, content_type, headers)
        for _ in range(settings.repeat)
    ]
    median = sorted(runs, key=lambda r: r["req_per_s"])[len(runs) // 2]
    measured = Measured(**median, runs=[round(r["req_per_s"], 1) for r in runs])
    if cpu is not None:
        measured["cpu"] = cpu.stop()
    return measured


def load_pair(
    first: tuple[str, Path], second: tuple[str, Path], settings: LoadSettings
) -> tuple[Measured, Measured]:
    """Two (url, body) loads compared with each other: warm-ups, then their timed runs
    alternated (first, second, first, ...), so that a neighbour's load on a shared
    machine falls on both alike; the median run of each."""
    for url, body in (first, second):
        wrk(url, body, settings.warmup, CONNECTIONS)
    runs: tuple[list[WrkRun], list[WrkRun]] = ([], [])
    for _ in range(settings.repeat):
        for (url, body), out in zip((first, second), runs, strict=True):
            out.append(wrk(url, body, settings.duration, CONNECTIONS))

    def median(rs: list[WrkRun]) -> Measured:
        mid = sorted(rs, key=lambda r: r["req_per_s"])[len(rs) // 2]
        return Measured(**mid, runs=[round(r["req_per_s"], 1) for r in rs])

    return median(runs[0]), median(runs[1])
