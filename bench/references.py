"""The references every figure is compared with: the model floor (in-process predict
on one core), the HTTP ceiling (bench/ceiling.py, a bare WSGI app) and the framework
bound (bench/framework.py, an empty flask-restx resource on the prediction URL), the
last two under mlstack's gunicorn settings behind the same nginx."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

from bench.load import LoadSettings, Measured, load
from bench.scenarios import BATCH_ROWS, Scenario, csv_body, rows
from tests.stackrun import GUNICORN_URL, NGINX_URL, ROOT, Stack

BENCH_DIR = ROOT / "bench"
GUNICORN_CONF = ROOT / "conf" / "gunicorn.conf.py"


def rate(fn: Callable[[], object], seconds: float = 1.5, min_calls: int = 5) -> float:
    """Calls per second of fn()."""
    for _ in range(3):
        fn()
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def one_row_floor(scenario: Scenario) -> dict[str, float]:
    """In-process predict on one core, one row per call: calls/s. Measured right before
    the single-row HTTP runs it is compared with."""
    from threadpoolctl import threadpool_limits

    est, X = scenario.estimator, scenario.X
    with threadpool_limits(1):
        return {"one_row_calls_per_s": rate(lambda: est.predict(X[:1]))}


def batch_floor(scenario: Scenario) -> dict[str, float]:
    """In-process predict on one core: rows/s for batches, and the request-shaped
    references (orjson decode + array conversion + predict; CSV parse + predict) on
    10,000 rows. Measured right before the batch HTTP runs they are compared with."""
    import pandas as pd
    from threadpoolctl import threadpool_limits

    est = scenario.estimator
    rows1k, rows10k = rows(scenario.X, 1000), rows(scenario.X, 10_000)
    body10k = orjson.dumps({"instances": rows10k.tolist()})
    csv10k = csv_body(rows10k, scenario.names)

    def json_path() -> None:
        doc = orjson.loads(body10k)
        est.predict(np.array(doc["instances"], dtype=np.float64))

    def csv_path() -> None:
        est.predict(pd.read_csv(io.BytesIO(csv10k)).to_numpy(dtype=np.float64))

    with threadpool_limits(1):
        return {
            "rows_per_s_1k": 1000 * rate(lambda: est.predict(rows1k)),
            "rows_per_s_10k": 10_000 * rate(lambda: est.predict(rows10k)),
            "json_10k_rows_per_s": 10_000 * rate(json_path),
            "csv_10k_rows_per_s": 10_000 * rate(csv_path),
        }


def http_references(stack: Stack, body: Path, settings: LoadSettings) -> dict[str, Any]:
    """The HTTP ceiling and the framework bound, each on gunicorn's port in place of
    mlstack's gunicorn (stopped meanwhile), behind the stack's nginx."""
    stack.ctl("stop", "gunicorn")
    try:
        return {
            "ceiling": _reference(stack, "ceiling:app", "/", body, settings),
            "framework": _reference(
                stack, "framework:app", "/api/v1/models/bench-b/predict", body, settings
            ),
        }
    finally:
        stack.ctl("start", "gunicorn")
        stack.wait_ready(120)


def plain_flask_batches(
    stack: Stack, bodies: dict[str, dict[str, Path]], settings: LoadSettings, connections: int
) -> dict[str, dict[str, float]]:
    """Rows/s of the plain-Flask reference (bench/plain.py) for each model's 1k- and
    10k-row JSON bodies, through the stack's nginx at the batch runs' connections."""
    stack.ctl("stop", "gunicorn")
    try:
        with _reference_app(stack, "bench.plain:app", ROOT):
            out: dict[str, dict[str, float]] = {}
            for name, paths in bodies.items():
                url = f"{NGINX_URL}/api/v1/models/{name}/predict"
                _wait_answering(url, body=paths["1"].read_bytes())
                out[name] = {
                    key: load(url, paths[key], settings, connections)["req_per_s"] * n
                    for key, n in BATCH_ROWS.items()
                }
            return out
    finally:
        stack.ctl("start", "gunicorn")
        stack.wait_ready(120)


def _reference(
    stack: Stack, app: str, path: str, body: Path, settings: LoadSettings
) -> dict[str, Measured]:
    with _reference_app(stack, app, BENCH_DIR):
        _wait_answering(GUNICORN_URL + path)
        return {
            "nginx": load(NGINX_URL + path, body, settings),
            "direct": load(GUNICORN_URL + path, body, settings),
        }


@contextmanager
def _reference_app(stack: Stack, app: str, chdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A reference WSGI app on gunicorn's port, under mlstack's gunicorn settings."""
    env = {
        **stack.env,
        "GUNICORN_CONTROL_SOCKET": str(stack.state / "run" / "reference.ctl"),
        "PROMETHEUS_MULTIPROC_DIR": "",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(GUNICORN_CONF),
            "--chdir",
            str(chdir),
            app,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def _wait_answering(url: str, attempts: int = 300, body: bytes = b"{}") -> None:
    """Until `url` answers a POST with 200 (the load's warm-up absorbs a late start)."""
    for _ in range(attempts):
        try:
            if requests.post(url, data=body, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
