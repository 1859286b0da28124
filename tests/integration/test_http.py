"""Through nginx on 5001: Swagger, the headers nginx forwards, predictions, uploads and
request ids across both access logs. Real processes, HTTP only."""

from __future__ import annotations

import io
import re
import uuid

import pytest

from tests.integration.conftest import AUTH, LOG_DIR, eventually

pytestmark = pytest.mark.integration

IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def spec_targets(spec: dict, client_host: str) -> None:
    """A Swagger 2 spec targets the client's origin when it names no other host: the
    UI then sends "Try it out" to the origin it was loaded from."""
    assert spec.get("host") in (None, client_host), spec.get("host")
    assert spec["basePath"] == "/api/v1"


def ui_spec_url(html: str) -> str:
    m = re.search(r'url:\s*"([^"]+swagger\.json)"', html)
    assert m, "Swagger UI page does not reference the spec"
    return m.group(1)


@pytest.mark.parametrize("host", ["127.0.0.1:5001", "localhost:5000", "mlstack.example:8443"])
def test_swagger_spec_and_ui_target_the_port_the_client_used(running, host):
    """5001 is the direct path; `Host: localhost:5000` is what nginx sees through
    Docker's 5000:5001 mapping; any other host:port must work the same."""
    spec = running.get("/api/v1/swagger.json", headers={"Host": host})
    assert spec.status_code == 200
    spec = spec.json()
    spec_targets(spec, host)
    assert "/models/{name}/predict" in spec["paths"]

    page = running.get("/api/v1/docs", headers={"Host": host})
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    url = ui_spec_url(page.text)
    # relative, or absolute on the client's own origin: never gunicorn's 5000 or
    # nginx's 5001 unless that is what the client used
    assert url == "/api/v1/swagger.json" or url == f"http://{host}/api/v1/swagger.json", url
    # the UI's assets load through the same path
    for asset in re.findall(r'(?:src|href)="(/swaggerui/[^"]+)"', page.text)[:3]:
        assert running.get(asset, headers={"Host": host}).status_code == 200


def test_root_redirect_stays_on_the_clients_origin(running):
    r = running.get("/", headers={"Host": "localhost:5000"}, allow_redirects=False)
    assert r.status_code in (301, 302, 308)
    location = r.headers["Location"]
    assert location in ("/ui/", "http://localhost:5000/ui/"), location  # a browser goes to the UI


def test_forwarded_headers_from_the_client_are_not_trusted(running):
    """The app trusts exactly one proxy, nginx; nginx overwrites the X-Forwarded-*
    headers, so a client cannot move the app's idea of its own origin or prefix."""
    evil = {
        "Host": "localhost:5000",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Port": "666",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/evil",
    }
    spec = running.get("/api/v1/swagger.json", headers=evil).json()
    spec_targets(spec, "localhost:5000")
    assert "evil" not in str(spec.get("basePath"))
    url = ui_spec_url(running.get("/api/v1/docs", headers=evil).text)
    assert "evil" not in url and "666" not in url and not url.startswith("https:")


def test_nginx_answers_with_its_headers_and_gzip(running):
    r = running.get("/api/v1/swagger.json", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.headers["Server"] == "nginx"  # server_tokens off: no version
    assert re.fullmatch(r"[A-Za-z0-9._:-]+", r.headers["X-Request-ID"])


def test_predict_through_the_stack(running):
    schema = running.get("/api/v1/models/iris/schema")
    assert schema.status_code == 200
    example = schema.json()["example"]
    r = running.post("/api/v1/models/iris/predict", json=example)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "iris"
    assert body["predictions"] == [0]  # the schema's example is a setosa

    bad = running.post("/api/v1/models/iris/predict", json={"instances": [{"sepal_length": 1}]})
    assert bad.status_code == 400
    assert "request_id" in bad.json()


def test_diabetes_predicts_a_number(running):
    example = running.get("/api/v1/models/diabetes/schema").json()["example"]
    r = running.post("/api/v1/models/diabetes/predict", json=example)
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["predictions"][0], float)


def test_upload_a_model_and_predict_with_it(running):
    """A .skops upload (multipart, through nginx's body buffering) becomes a version
    that every gunicorn worker serves."""
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    est = LogisticRegression(max_iter=500).fit(X, y)
    buf = io.BytesIO()
    sio.dump(est, buf)
    name = f"it-upload-{uuid.uuid4().hex[:8]}"
    schema = (
        '{"features": [{"name": "sepal_length", "type": "numeric"}, {"name": "sepal_width", '
        '"type": "numeric"}, {"name": "petal_length", "type": "numeric"}, '
        '{"name": "petal_width", "type": "numeric"}]}'
    )
    files = {"file": ("model.skops", buf.getvalue(), "application/octet-stream")}
    data = {"schema": schema, "promote": "true"}

    assert (
        running.post(f"/api/v1/models/{name}/versions", files=files, data=data).status_code == 401
    )
    r = running.post(f"/api/v1/models/{name}/versions", files=files, data=data, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1

    # every gunicorn worker learns of the new model within 2 s (its registry cache)
    def served_by_all():
        for _ in range(6):
            p = running.post(f"/api/v1/models/{name}/predict", json={"instances": [IRIS_ROW]})
            assert p.status_code == 200, p.text
            assert p.json()["predictions"] == est.predict([list(IRIS_ROW.values())]).tolist()

    eventually(served_by_all)


def test_upload_over_nginx_body_limit_is_refused(running):
    """client_max_body_size matches the app's limit (100 MB + 1 MB of multipart
    envelope); 102 MB never reaches gunicorn."""
    big = b"\0" * (102 * 1024 * 1024)
    r = running.post(
        "/api/v1/models/too-big/versions",
        headers=AUTH,
        files={"file": ("m.skops", big)},
        timeout=120,
    )
    assert r.status_code == 413


def test_request_id_is_the_same_in_nginx_and_app_access_logs(running):
    rid = "it-" + uuid.uuid4().hex
    r = running.post(
        "/api/v1/models/iris/predict", json={"instances": [IRIS_ROW]}, headers={"X-Request-ID": rid}
    )
    assert r.status_code == 200
    assert r.headers["X-Request-ID"] == rid

    nginx_line = running.wait_for_line(LOG_DIR / "nginx-access.log", rid)
    assert "POST /api/v1/models/iris/predict" in nginx_line and "status=200" in nginx_line
    app_line = running.wait_for_line(LOG_DIR / "access.log", rid)
    assert "path=/api/v1/models/iris/predict" in app_line and "status=200" in app_line
    assert "model=iris" in app_line and "rows=1" in app_line


def test_request_id_is_generated_by_nginx_when_the_client_sends_none(running):
    r = running.get("/api/v1/health/live")
    rid = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)  # nginx's $request_id
    running.wait_for_line(LOG_DIR / "nginx-access.log", f"request_id={rid}")
    running.wait_for_line(LOG_DIR / "access.log", f"rid={rid}")


def test_an_unacceptable_client_request_id_is_replaced_consistently(running):
    """An id the app would refuse (spaces, too long) is replaced by nginx's own, so the
    two logs still agree."""
    r = running.get("/api/v1/health/live", headers={"X-Request-ID": "bad id " * 40})
    rid = r.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", rid)
    running.wait_for_line(LOG_DIR / "access.log", f"rid={rid}")


def test_metrics_aggregate_both_gunicorn_workers(running):
    for _ in range(10):
        running.get("/api/v1/health/live")
    text = running.get("/metrics").text
    assert "mlstack_http_requests_total" in text
    lines = [
        ln
        for ln in text.splitlines()
        if ln.startswith("mlstack_http_requests_total")
        and "/health/live" in ln
        and 'status="200"' in ln
    ]
    assert lines and sum(float(ln.rsplit(" ", 1)[1]) for ln in lines) >= 10
