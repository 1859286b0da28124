"""Bounded work at nginx (issue 11), through the real stack: prediction bodies over
MAX_PREDICT_MB refused by nginx with a JSON 413 before gunicorn sees them, rate limits
per client address (429 JSON), and both access logs escaping what clients send."""

from __future__ import annotations

import re
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.integration.conftest import LOG_DIR, NGINX_PORT, ROOT

pytestmark = pytest.mark.integration

IRIS_ROW = [5.1, 3.5, 1.4, 0.2]
# Another loopback address: nginx does not rate-limit the machine itself (127.0.0.1),
# so the limited client connects to 127.0.0.1 from this one.
OTHER_CLIENT = "127.0.0.2"


class FromAddress(HTTPAdapter):
    """A requests adapter whose connections leave from `source`."""

    def __init__(self, source: str, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source: str) -> requests.Session:
    s = requests.Session()
    s.mount("http://", FromAddress(source, pool_maxsize=16))
    return s


def oversized_json(size: int) -> bytes:
    row = b"[5.1, 3.5, 1.4, 0.2]"
    return b'{"instances": [' + b",".join([row] * (size // (len(row) + 1) + 1)) + b"]}"


def test_nginx_prediction_limit_is_the_apps(monkeypatch):
    from app.config import Config

    monkeypatch.delenv("MAX_PREDICT_MB", raising=False)
    nginx = (ROOT / "nginx.conf").read_text()
    for location in (r"/api/v1/models/\[\^/\]\+/predict\$", r"/v2/models/"):
        block = re.search(location + r".*?\{(.*?)\}", nginx, re.S).group(1)
        mb = int(re.search(r"client_max_body_size\s+(\d+)m;", block).group(1))
        assert mb * 1024 * 1024 == Config().MAX_PREDICT_BYTES


@pytest.mark.parametrize(
    ("path", "key"),
    [("/api/v1/models/iris/predict", "message"), ("/v2/models/iris/infer", "error")],
)
def test_a_prediction_body_over_the_limit_is_refused_by_nginx(running, path, key):
    rid = "it-big-" + uuid.uuid4().hex
    body = oversized_json(17 * 1024 * 1024)
    r = running.post(
        path,
        data=body,
        headers={"Content-Type": "application/json", "X-Request-ID": rid},
        timeout=120,
    )
    assert r.status_code == 413
    assert r.headers["Content-Type"] == "application/json"
    assert "MAX_PREDICT_MB" in r.json()[key]
    if key == "message":
        assert r.json()["request_id"] == rid
    running.wait_for_line(LOG_DIR / "nginx-access.log", f"request_id={rid}")
    # nginx answered alone: the app never logged the request
    assert rid not in (LOG_DIR / "access.log").read_text(errors="replace")


def test_a_chunked_prediction_body_over_the_limit_is_refused_by_nginx(running):
    chunk = b"[5.1, 3.5, 1.4, 0.2]," * 50_000  # 1 MB

    def chunks():
        yield b'{"instances": ['
        for _ in range(17):
            yield chunk
        yield b"[1, 2, 3, 4]]}"

    r = running.post(
        "/api/v1/models/iris/predict",
        data=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert r.status_code == 413 and "MAX_PREDICT_MB" in r.json()["message"]


def test_a_prediction_under_the_limit_passes_nginx(running):
    body = b'{"instances": [' + b",".join([b"[5.1, 3.5, 1.4, 0.2]"] * 9000) + b"]}"
    r = running.post(
        "/api/v1/models/iris/predict", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200 and len(r.json()["predictions"]) == 9000


def test_a_burst_of_admin_requests_from_one_address_gets_429_json(running):
    url = f"http://127.0.0.1:{NGINX_PORT}/api/v1/models/iris/versions/1/promote"
    limited = session_from(OTHER_CLIENT)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: limited.post(url, timeout=30), range(150)))
    codes = [r.status_code for r in answers]
    # the burst (50) passes to the app, which wants a token; the rest is refused
    assert codes.count(401) >= 50 and codes.count(429) >= 40, codes
    assert set(codes) == {401, 429}
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["Content-Type"] == "application/json"
    assert "too many requests" in refused.json()["message"] and refused.json()["request_id"]

    # predictions from the same address have their own, generous, allowance
    predict = f"http://127.0.0.1:{NGINX_PORT}/api/v1/models/iris/predict"
    for _ in range(30):
        r = limited.post(predict, json={"instances": [IRIS_ROW]}, timeout=30)
        assert r.status_code == 200, r.text


def test_the_machine_itself_is_not_rate_limited(running):
    url = "/api/v1/models/iris/versions/1/promote"
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: running.post(url).status_code, range(120)))
    assert set(codes) == {401}


def raw_request(head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", NGINX_PORT), timeout=30) as sock:
        sock.sendall(head)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_nginx_logs_control_characters_escaped(running):
    rid = "it-esc-" + uuid.uuid4().hex
    r = running.get(
        "/api/v1/health/live",
        headers={"X-Request-ID": rid, "User-Agent": 'evil \x1b[31m "quoted" \x7f\\'},
    )
    assert r.status_code == 400  # gunicorn refuses control characters in a header
    nginx_line = running.wait_for_line(LOG_DIR / "nginx-access.log", f"request_id={rid}")
    assert '"evil \\x1B[31m \\x22quoted\\x22 \\x7F\\x5C"' in nginx_line


def test_the_apps_log_escapes_a_crlf_path_and_quotes_through_the_stack(running):
    rid = "it-esc-" + uuid.uuid4().hex
    forged = "2026-01-01T00:00:00+00:00 request_id=forged"
    r = running.get(
        "/api/v1/models/x%0d%0a" + forged.replace(" ", "%20") + "/schema",
        headers={"X-Request-ID": rid, "User-Agent": 'evil "quoted" \\'},
    )
    assert r.status_code in (400, 404)
    app_line = running.wait_for_line(LOG_DIR / "access.log", f"rid={rid}")
    assert (
        "path=/api/v1/models/x\\x0d\\x0a2026-01-01T00:00:00+00:00\\x20request_id=forged" in app_line
    )
    assert 'agent="evil \\x22quoted\\x22 \\x5c"' in app_line
    for log in ("nginx-access.log", "access.log"):
        text = (LOG_DIR / log).read_text(errors="replace")
        assert not any(line.startswith("2026-01-01") for line in text.splitlines())


def test_a_header_with_a_bare_cr_cannot_forge_an_nginx_log_line(running):
    rid = "it-cr-" + uuid.uuid4().hex
    answer = raw_request(
        b"GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\nX-Request-ID: "
        + rid.encode()
        + b"\r\nUser-Agent: a\rforged-line request_id=forged\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 ")
    text = (LOG_DIR / "nginx-access.log").read_text(errors="replace")
    assert not any(line.startswith("forged-line") for line in text.splitlines())
