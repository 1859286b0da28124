"""Health, metrics, the Swagger documents, the access log and configuration."""

import re

import pytest

from app import create_app
from app.config import ProductionConfig, TestingConfig


def test_root_redirects_to_the_ui(client):  # to the docs with UI_ENABLED=false: tests/ui
    res = client.get("/")
    assert res.status_code == 302 and res.headers["Location"].endswith("/ui/")


def test_swagger_ui_and_spec_document_every_operation(client, iris):
    assert b"swagger-ui" in client.get("/api/v1/docs").data
    spec = client.get("/api/v1/swagger.json").get_json()
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m != "parameters"}
    for op in [
        ("GET", "/models"),
        ("GET", "/models/{name}"),
        ("GET", "/models/{name}/schema"),
        ("POST", "/models/{name}/predict"),
        ("POST", "/models/{name}/versions"),
        ("POST", "/models/{name}/versions/{version}/promote"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
    ]:
        assert op in ops
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op.get("summary"), (method, path)
            assert any(code.startswith("2") for code in op["responses"]), (method, path)


def test_liveness_and_readiness(client, iris):
    assert client.get("/api/v1/health/live").get_json() == {"status": "ok"}
    res = client.get("/api/v1/health/ready")
    assert res.status_code == 200
    assert res.get_json()["checks"] == {"database": "ok", "models": "ok"}


def test_not_ready_without_models(client):
    res = client.get("/api/v1/health/ready")
    assert res.status_code == 503
    assert res.get_json()["checks"]["models"] == "no model has a production version"


def test_not_ready_when_the_database_is_unreachable(tmp_path, iris_models):
    config = TestingConfig(var_dir=tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    app = create_app(config)
    res = app.test_client().get("/api/v1/health/ready")
    assert res.status_code == 503
    assert res.get_json()["checks"]["database"].startswith("unreachable")


def test_metrics_count_requests_and_predictions(client, iris):
    client.post("/api/v1/models/iris/predict", json={"instances": [[1, 2, 3, 4]] * 3})
    client.post("/api/v1/models/iris/predict", json={"instances": []})
    text = client.get("/metrics").data.decode()
    assert re.search(r'mlstack_predictions_total\{model="iris",version="1"\} [1-9]', text)
    assert 'endpoint="/api/v1/models/<string:name>/predict"' in text
    assert re.search(
        r'mlstack_http_requests_total\{endpoint="/api/v1/models/<string:name>/predict",'
        r'method="POST",status="400"\}',
        text,
    )
    assert "mlstack_http_request_duration_seconds_bucket" in text


def test_metrics_count_estimator_calls_for_the_mean_batch(client, iris):
    def sample(text: str, name: str) -> float:
        m = re.search(name + r'\{model="iris",version="1"\} (\S+)', text)
        return float(m.group(1)) if m else 0.0

    before = client.get("/metrics").data.decode()
    client.post("/api/v1/models/iris/predict", json={"instances": [[1, 2, 3, 4]] * 3})
    client.post(
        "/api/v1/models/iris/predict", json={"instances": [[1, 2, 3, "x"]]}
    )  # refused: no call
    after = client.get("/metrics").data.decode()
    assert (
        sample(after, "mlstack_predict_calls_total") - sample(before, "mlstack_predict_calls_total")
        == 1
    )
    assert (
        sample(after, "mlstack_predictions_total") - sample(before, "mlstack_predictions_total")
        == 3
    )


def test_every_request_is_logged_with_its_fields(client, iris, config):
    client.post(
        "/api/v1/models/iris/predict",
        json={"instances": [[1, 2, 3, 4]] * 2},
        headers={"X-Request-ID": "req-abc-123"},
    )
    res = client.get("/api/v1/models/nope")
    generated = res.headers["X-Request-ID"]
    lines = (config.LOG_DIR / "access.log").read_text().splitlines()
    predicted = [line for line in lines if "rid=req-abc-123" in line]
    assert len(predicted) == 1
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO \d+ mlstack.access rid=req-abc-123 "
        r"method=POST path=/api/v1/models/iris/predict status=200 duration_ms=\d+\.\d\d "
        r'remote=127.0.0.1 agent="[^"]+" model=iris version=1 rows=2$',
        predicted[0],
    )
    assert len(generated) == 32
    assert any(
        f"rid={generated} method=GET path=/api/v1/models/nope status=404" in line for line in lines
    )


def test_a_hostile_request_id_is_replaced(client):
    res = client.get("/api/v1/health/live", headers={"X-Request-ID": "bad id;<script>"})
    assert (
        res.headers["X-Request-ID"] != "bad id;<script>" and len(res.headers["X-Request-ID"]) == 32
    )


def test_production_refuses_to_start_without_a_token(monkeypatch, tmp_path):
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.setenv("MLSTACK_VAR", str(tmp_path))
    with pytest.raises(RuntimeError, match="API_TOKEN"):
        create_app(ProductionConfig())


def test_development_generates_one_token_and_keeps_it(monkeypatch, tmp_path, capsys):
    from app.config import DevelopmentConfig

    monkeypatch.delenv("API_TOKEN", raising=False)
    first, second = DevelopmentConfig(), DevelopmentConfig()
    first.VAR_DIR = second.VAR_DIR = tmp_path
    first.ensure_token()
    second.ensure_token()
    assert first.API_TOKEN == second.API_TOKEN and len(first.API_TOKEN) > 20
    assert capsys.readouterr().out.count(first.API_TOKEN) == 1
    assert (tmp_path / "api_token").stat().st_mode & 0o777 == 0o600


def test_postgres_urls_are_normalised():
    from app.db import normalise_url

    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_reads_that_need_an_unreachable_database_get_503_and_one_log_line(tmp_path, caplog):
    config = TestingConfig(var_dir=tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:9/none")
    client = create_app(config).test_client()
    for path in ("/api/v1/models", "/api/v1/models/iris/predict"):
        caplog.clear()
        res = (
            client.get(path)
            if path.endswith("models")
            else client.post(path, json={"instances": [[1]]})
        )
        assert res.status_code == 503, (path, res.get_json())
        assert res.get_json()["request_id"]
        assert not any(r.exc_info for r in caplog.records), "no traceback for an expected outage"
