"""The zero-HTTP bound: a whole mlstack request in one process on one thread, with no
socket, gunicorn, nginx or wrk. The bench's own bodies go through mlstack's WSGI app
(validation, micro-batcher, the served engine, access log and metrics, as served); the
empty flask-restx resource (bench/framework.py) and the plain-Flask reference
(bench/plain.py) are timed the same way.

Issue 13 sets targets as multiples of other servers' rates; what one request costs here
says which of them this design can reach at all on this machine: `cores` such requests
in parallel, with HTTP, nginx and the load generator free, is the most any deployment
of this code could serve. A target above it is out of reach whatever the HTTP path
does, and one below it says how much of the machine the HTTP path may take."""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import BenchError
from bench.scenarios import (
    BATCH_ROWS,
    JSON_BODY_ROWS,
    V2_BINARY_HEADERS,
    V2_MODEL,
    Scenario,
    registration,
)
from tests.stackrun import ROOT

ROUNDS = 5  # the best round counts: a neighbour's load only ever adds time
ROUND_SECONDS = 0.3
# what nginx adds to every request it passes on (ProxyFix trusts one proxy)
PROXY_HEADERS = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http"}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_costs(scenarios: dict[str, Scenario], bodies: dict[str, dict[str, Path]]) -> dict:
    """Microseconds per request, best of ROUNDS: the empty resource ("framework"), each
    model's JSON bodies through mlstack ("models": {name: {body key: us}}), its batches as
    V2 binary tensors ("v2_binary": {name: {"1k" | "10k": us}}) and the batch bodies
    through the plain-Flask reference ("plain"), with the machine's core count and the
    rounds."""
    from bench import plain

    costs: dict[str, Any] = {
        "cores": os.cpu_count() or 1,
        "rounds": ROUNDS,
        "framework": _cost(_framework_app(), _predict_path(V2_MODEL), bodies[V2_MODEL]["1"]),
        "plain": {
            name: {
                key: _cost(plain.app, _predict_path(name), bodies[name][key]) for key in BATCH_ROWS
            }
            for name in scenarios
        },
    }
    with tempfile.TemporaryDirectory(prefix="mlstack-inprocess-") as var:
        app = _mlstack_app(Path(var), scenarios)
        costs["models"] = {
            name: {
                key: _cost(app, _predict_path(name), bodies[name][key]) for key in JSON_BODY_ROWS
            }
            for name in scenarios
        }
        costs["v2_binary"] = {
            name: {
                key: _cost(
                    app,
                    f"/v2/models/{name}/infer",
                    bodies[name]["v2bin" + key],
                    "application/octet-stream",
                    V2_BINARY_HEADERS,
                )
                for key in BATCH_ROWS
            }
            for name in scenarios
        }
    return costs


def _predict_path(name: str) -> str:
    return f"/api/v1/models/{name}/predict"


def _framework_app() -> WsgiApp:
    """bench/framework.py's app, imported as gunicorn imports it (from bench/)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import framework  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return framework.app  # type: ignore[no-any-return]


def _mlstack_app(var: Path, scenarios: dict[str, Scenario]) -> WsgiApp:
    """mlstack's app on SQLite under `var`, with the scenarios registered and promoted
    through its API as the harness registers them on the stack."""
    from app import create_app
    from app.config import TestingConfig
    from app.services import services_of

    app = create_app(TestingConfig(var_dir=var))
    services_of(app).db.upgrade()
    client = app.test_client()
    for name, s in scenarios.items():
        artifact, form = registration(s)
        res = client.post(
            f"/api/v1/models/{name}/versions",
            headers={"Authorization": "Bearer test-token"},
            data={**form, "file": (io.BytesIO(artifact), "model.skops")},
        )
        if res.status_code != 201:
            raise BenchError(f"in-process registration of {name}: {res.status_code} {res.text}")
    return app  # type: ignore[return-value]


def _cost(
    app: WsgiApp,
    path: str,
    body_file: Path,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> float:
    """Microseconds per POST of `body_file` to `path`, calling the WSGI app directly
    with an environ built once (the test client's own per-call work left out)."""
    from werkzeug.test import EnvironBuilder

    body = body_file.read_bytes()
    environ = EnvironBuilder(
        path=path,
        method="POST",
        data=body,
        content_type=content_type,
        headers=PROXY_HEADERS | (headers or {}),
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        result = app(env, start_response)
        try:
            for _ in result:
                pass
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    call()
    if not statuses[-1].startswith("200"):
        raise BenchError(f"in-process POST {path} ({body_file.name}): {statuses[-1]}")
    return _best_us_per_call(call)


def _best_us_per_call(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    calls_per_round = max(1, int(ROUND_SECONDS / max(time.perf_counter() - start, 1e-6)))
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(calls_per_round):
            call()
        best = min(best, (time.perf_counter() - start) / calls_per_round)
    return best * 1e6
