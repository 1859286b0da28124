"""Prediction bodies have their own size limit (MAX_PREDICT_MB), checked before the
body is parsed, for /api/v1 (JSON and CSV) and /v2 inference; uploads keep theirs."""

from __future__ import annotations

import io

import pytest
import skops.io as sio

from app import create_app
from app.config import TestingConfig
from app.services import services_of
from tests.api.test_admin_guard import CountingStream
from tests.conftest import AUTH, iris_schema

LIMIT = 8 * 1024  # bytes, for these tests
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app(
        TestingConfig(var_dir=tmp_path / "var", DATABASE_URL=database_url, MAX_PREDICT_BYTES=LIMIT)
    )
    services_of(app).db.upgrade()
    yield app
    services_of(app).db.dispose()


def json_rows(n: int) -> bytes:
    return b'{"instances": [' + b",".join([b"[5.1, 3.5, 1.4, 0.2]"] * n) + b"]}"


def csv_rows(n: int) -> bytes:
    return b"sepal_length,sepal_width,petal_length,petal_width\n" + b"5.1,3.5,1.4,0.2\n" * n


def v2_rows(n: int) -> bytes:
    data = ",".join(["5.1, 3.5, 1.4, 0.2"] * n)
    return (
        f'{{"inputs": [{{"name": "x", "datatype": "FP64", "shape": [{n}, 4], "data": [{data}]}}]}}'
    ).encode()


ENDPOINTS = {
    "json": ("/api/v1/models/iris/predict", "application/json", json_rows),
    "csv": ("/api/v1/models/iris/predict", "text/csv", csv_rows),
    "v2": ("/v2/models/iris/infer", "application/json", v2_rows),
}


def rows_for(make, size: int) -> bytes:
    """A valid body of at least `size` bytes (at most a row more)."""
    per_row = len(make(2)) - len(make(1))
    return make(max(1, (size - len(make(1))) // per_row + 2))


@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
def test_a_body_over_the_limit_is_refused_before_it_is_read(app, iris, kind):
    url, content_type, make = ENDPOINTS[kind]
    body = rows_for(make, LIMIT + 1)
    stream = CountingStream(body)
    r = app.test_client().post(
        url,
        input_stream=stream,
        headers={"Content-Type": content_type, "Content-Length": str(len(body))},
    )
    assert r.status_code == 413
    message = r.get_json()["error" if kind == "v2" else "message"]
    assert f"{len(body)} bytes" in message and "MAX_PREDICT_MB" in message
    assert stream.reads == 0


@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
def test_a_body_at_the_limit_is_predicted(app, iris, kind):
    url, content_type, make = ENDPOINTS[kind]
    body = rows_for(make, LIMIT - 100)
    assert LIMIT - 100 <= len(body) <= LIMIT
    r = app.test_client().post(url, data=body, content_type=content_type)
    assert r.status_code == 200, r.get_data()[:300]


@pytest.mark.parametrize("kind", sorted(ENDPOINTS))
def test_a_chunked_body_is_read_only_up_to_the_limit(app, iris, kind):
    """No Content-Length (chunked transfer, as gunicorn passes it on): the body is read
    up to the limit and refused, the rest never read."""
    url, content_type, make = ENDPOINTS[kind]
    body = rows_for(make, 50 * LIMIT)
    stream = CountingStream(body)
    r = app.test_client().post(
        url,
        input_stream=stream,
        headers={"Content-Type": content_type},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413
    message = r.get_json()["error" if kind == "v2" else "message"]
    assert "MAX_PREDICT_MB" in message
    assert stream.tell() < 2 * LIMIT + 65536 < len(body)


def test_uploads_keep_their_own_larger_limit(app, client, iris_models):
    data = sio.dumps(iris_models["gb"])
    assert len(data) > LIMIT
    r = client.post(
        "/api/v1/models/big/versions",
        data={
            "file": (io.BytesIO(data), "m.skops"),
            "schema": '{"features": '
            + str([f["name"] for f in iris_schema()["features"]]).replace("'", '"')
            + "}",
        },
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.get_json()


def test_the_default_limit_is_16_mb_well_under_the_upload_limit(tmp_path):
    config = TestingConfig(var_dir=tmp_path)
    assert config.MAX_PREDICT_BYTES == 16 * 1024 * 1024 < config.MAX_CONTENT_LENGTH
