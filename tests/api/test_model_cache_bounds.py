"""Bounded model cache and broken artifacts through the API: looping over
`?version=N` keeps each process at MODEL_CACHE_SIZE versions besides production, and a
missing or corrupt artifact answers 503, is remembered for ARTIFACT_RETRY_SECONDS
instead of being re-read per request, and is named by readiness."""

from __future__ import annotations

import time

import pytest
from sklearn.tree import DecisionTreeClassifier

from app import create_app
from app.config import TestingConfig
from app.services import services_of
from tests.conftest import iris_schema

CACHE_SIZE = 3
RETRY_SECONDS = 1.0
VERSIONS = 8
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


@pytest.fixture
def app(tmp_path, database_url):
    app = create_app(
        TestingConfig(
            var_dir=tmp_path / "var",
            DATABASE_URL=database_url,
            MODEL_CACHE_SIZE=CACHE_SIZE,
            ARTIFACT_RETRY_SECONDS=RETRY_SECONDS,
        )
    )
    services_of(app).db.upgrade()
    yield app
    services_of(app).db.dispose()


@pytest.fixture
def versions(registry, iris_data):
    """iris v1..v8: trees of depth 1..8 (distinct artifacts); v1 is production."""
    X, y = iris_data
    models = {}
    for depth in range(1, VERSIONS + 1):
        est = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X, y)
        v = registry.add_estimator("iris", est, schema=iris_schema())
        models[v["version"]] = (est, v)
    return models


def predict(client, version=None):
    url = "/api/v1/models/iris/predict" + (f"?version={version}" if version else "")
    return client.post(url, json={"instances": ROWS})


def artifact(app, registry, version_doc):
    return services_of(app).config.MODEL_STORE / f"iris/{version_doc['artifact_sha256']}.skops"


def test_looping_over_versions_keeps_the_cache_at_its_cap(client, registry, app, versions):
    cache, service = registry.cache, services_of(app).predictions
    assert predict(client).status_code == 200  # production: v1, pinned
    for _round in range(2):
        for version, (est, _) in versions.items():
            r = predict(client, version)
            assert r.status_code == 200
            assert r.get_json()["predictions"] == est.predict(ROWS).tolist()
            assert len(cache.keys()) <= CACHE_SIZE + 1
            assert ("iris", 1) in cache.keys()
            assert service.batcher_count() <= CACHE_SIZE + 1
    assert cache.keys()[-CACHE_SIZE:] == [("iris", v) for v in range(6, 9)]
    assert cache.stats()["evictions"] >= 2 * VERSIONS - CACHE_SIZE - 2
    # an evicted version loads again and answers as before
    loads = cache.stats()["loads"]
    est, _ = versions[2]
    r = predict(client, 2)
    assert r.get_json()["predictions"] == est.predict(ROWS).tolist()
    assert cache.stats()["loads"] == loads + 1


def test_a_promotion_pins_the_new_production_version(client, registry, versions):
    for version in versions:
        predict(client, version)
    registry.promote("iris", 2)
    assert predict(client).get_json()["version"] == 2
    for version in range(3, VERSIONS + 1):
        predict(client, version)
    assert ("iris", 2) in registry.cache.keys() and ("iris", 1) not in registry.cache.keys()


def test_a_missing_artifact_is_503_remembered_and_named_by_readiness(
    client, app, registry, versions
):
    path = artifact(app, registry, versions[2][1])
    saved = path.read_bytes()
    path.unlink()
    for _ in range(5):
        r = predict(client, 2)
        assert r.status_code == 503
        message = r.get_json()["message"]
        assert "'iris' v2" in message and "missing" in message
    assert registry.cache.stats()["load_failures"] == 1  # read once, not per request

    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 200  # production (v1) still serves
    body = ready.get_json()
    assert body["status"] == "ready" and body["checks"]["models"] == "ok"
    assert body["broken"] == [
        {"model": "iris", "version": 2, "production": False, "error": message}
    ]

    path.write_bytes(saved)  # repaired: still refused until the retry time
    assert predict(client, 2).status_code == 503
    time.sleep(RETRY_SECONDS + 0.1)
    assert predict(client, 2).status_code == 200
    assert "broken" not in client.get("/api/v1/health/ready").get_json()


def test_a_truncated_production_artifact_makes_readiness_say_which(client, app, registry, versions):
    path = artifact(app, registry, versions[1][1])
    path.write_bytes(path.read_bytes()[:100])
    registry.cache.clear()
    r = predict(client)
    assert r.status_code == 503 and "sha256" in r.get_json()["message"]
    assert "'iris' v1" in r.get_json()["message"]
    r = client.post(
        "/v2/models/iris/infer",
        json={"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 4], "data": ROWS[0]}]},
    )
    assert r.status_code == 503 and "sha256" in r.get_json()["error"]

    ready = client.get("/api/v1/health/ready")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["models"].startswith("no production model can be loaded: model 'iris' v1")
    assert [(b["model"], b["version"], b["production"]) for b in body["broken"]] == [
        ("iris", 1, True)
    ]
    v2 = client.get("/v2/health/ready")
    assert v2.status_code == 503 and "'iris' v1" in v2.get_json()["error"]
    assert client.get("/v2/models/iris/ready").status_code == 503
    assert registry.cache.stats()["load_failures"] == 1


def test_an_artifact_that_does_not_load_is_503_not_500(client, app, registry, versions):
    """A file whose checksum matches but that does not load (here: bytes that are no
    skops file, recorded as the artifact) is the server's problem: 503, not a 400
    blaming the client nor a 500."""
    from sqlalchemy import update

    from app.core.runtime import sha256_bytes
    from app.db.models import ModelVersion

    junk = b"not a zip at all"
    rel = f"iris/{sha256_bytes(junk)}.skops"
    (services_of(app).config.MODEL_STORE / rel).write_bytes(junk)
    with registry.db.session() as s:
        s.execute(
            update(ModelVersion)
            .where(ModelVersion.version == 3)
            .values(artifact_path=rel, artifact_sha256=sha256_bytes(junk))
        )
    r = predict(client, 3)
    assert r.status_code == 503
    message = r.get_json()["message"]
    assert message.startswith("model 'iris' v3 is unavailable") and "cannot be loaded" in message
