"""Admin operations check the token before their body is read or validated: an
anonymous caller cannot make the service parse a huge or deeply nested body."""

from __future__ import annotations

import io
import re

import pytest

from app.api.auth import is_admin_view
from tests.conftest import AUTH

# bodies an anonymous caller might send: none of them may be read
HOSTILE_BODIES = {
    "deeply nested": b"[" * 200_000 + b"]" * 200_000,
    "malformed": b'{"dataset": "iris", "algorithm": ',
    "huge": b'{"x": "' + b"a" * (4 * 1024 * 1024) + b'"}',
}


class CountingStream(io.BytesIO):
    """A request body that remembers whether anything read it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads = 0

    def read(self, *args):
        self.reads += 1
        return super().read(*args)

    def readline(self, *args):
        self.reads += 1
        return super().readline(*args)

    def readinto(self, *args):
        self.reads += 1
        return super().readinto(*args)


def admin_endpoints(app) -> list[tuple[str, str]]:
    """(method, URL) of every admin operation the app routes, placeholders filled."""
    out = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if is_admin_view(view, method):
                url = re.sub(r"<int:[^>]+>", "1", rule.rule)
                url = re.sub(r"<path:[^>]+>", "README.md", url)
                url = re.sub(r"<[^>]+>", "iris", url)
                out.append((method, url))
    return out


def test_every_admin_operation_is_found(app):
    found = set(admin_endpoints(app))
    assert {
        ("POST", "/api/v1/models/iris/versions"),
        ("POST", "/api/v1/models/iris/versions/1/promote"),
        ("POST", "/api/v1/models/iris/train"),
        ("POST", "/api/v1/datasets"),
        ("POST", "/api/v1/jobs/1/cancel"),
        ("POST", "/api/v1/bundles"),
        ("GET", "/api/v1/bundles/iris"),
        ("GET", "/api/v1/bundles/iris/archive"),
    } <= found
    assert ("POST", "/api/v1/models/iris/predict") not in found


@pytest.mark.parametrize("kind", sorted(HOSTILE_BODIES))
@pytest.mark.parametrize("content_type", ["application/json", "multipart/form-data; boundary=x"])
def test_anonymous_admin_requests_are_refused_before_the_body_is_read(app, kind, content_type):
    client = app.test_client()
    body = HOSTILE_BODIES[kind]
    for method, url in admin_endpoints(app):
        stream = CountingStream(body)
        r = client.open(
            url,
            method=method,
            input_stream=stream,
            headers={"Content-Type": content_type, "Content-Length": str(len(body))},
        )
        assert r.status_code == 401, (method, url, r.status_code, r.get_data()[:200])
        assert "Bearer" in r.get_json()["message"]
        assert stream.reads == 0 and stream.tell() == 0, (method, url)


def test_a_wrong_token_is_refused_before_the_body_is_read(app):
    body = HOSTILE_BODIES["deeply nested"]
    stream = CountingStream(body)
    r = app.test_client().post(
        "/api/v1/models/iris/train",
        input_stream=stream,
        headers={
            "Authorization": "Bearer nope",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
        },
    )
    assert r.status_code == 403 and r.get_json()["message"] == "the bearer token is not valid"
    assert stream.reads == 0


def test_with_the_token_the_body_is_validated_as_before(client):
    r = client.post(
        "/api/v1/models/iris/train", data="{", headers=AUTH, content_type="application/json"
    )
    assert r.status_code == 400
    r = client.post("/api/v1/models/iris/train", json={"algorithm": 3}, headers=AUTH)
    assert r.status_code == 400 and "errors" in r.get_json()


def test_public_operations_still_answer_without_a_token(client, iris):
    assert client.get("/api/v1/models/iris").status_code == 200
    r = client.post("/api/v1/models/iris/predict", json={"instances": [[5.1, 3.5, 1.4, 0.2]]})
    assert r.status_code == 200
