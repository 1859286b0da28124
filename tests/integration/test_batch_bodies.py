"""Batch bodies through nginx cost no more than directly to gunicorn. A body nginx
spools to a file went upstream in two writes, the second held by Nagle until gunicorn's
delayed ACK: 40 ms on every 1,000-row request (docs/performance.md, issue 13). nginx
now keeps bodies up to 1 MB in memory (nginx.conf, client_body_buffer_size)."""

from __future__ import annotations

import statistics
import time

import orjson
import pytest
import requests

from tests.integration.conftest import GUNICORN_PORT, NGINX_PORT

pytestmark = pytest.mark.integration
ROWS = 1000
SAMPLES = 15
# nginx's extra cost measured with the fix: ~1 ms; without it 40 ms or more
ALLOWED_EXTRA_MS = 20


def median_ms(session: requests.Session, url: str, body: bytes) -> float:
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        r = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        times.append((time.perf_counter() - start) * 1000)
        assert r.status_code == 200, r.text
        assert len(r.json()["predictions"]) == ROWS
    return statistics.median(times)


def test_a_1000_row_batch_through_nginx_waits_for_nothing(running):
    body = orjson.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]] * (ROWS // 2)})
    assert len(body) > 16 * 1024  # above nginx's default body buffer: the case that waited
    path = "/api/v1/models/iris/predict"
    with requests.Session() as session:  # kept-alive connections, as load generators use
        median_ms(session, f"http://127.0.0.1:{NGINX_PORT}{path}", body)  # warm both workers
        # alternated, so that a neighbour's load falls on both alike
        via_nginx, direct = [], []
        for _ in range(2):
            via_nginx.append(median_ms(session, f"http://127.0.0.1:{NGINX_PORT}{path}", body))
            direct.append(median_ms(session, f"http://127.0.0.1:{GUNICORN_PORT}{path}", body))
    extra = min(via_nginx) - min(direct)
    assert extra < ALLOWED_EXTRA_MS, (via_nginx, direct)
