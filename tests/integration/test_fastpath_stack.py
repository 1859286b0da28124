"""The exact fast path on the real stack (supervisord, gunicorn's preloading master and
its forked workers, nginx, PostgreSQL): a linear version is served by the compiled
predictor in every worker, with scikit-learn's answers, and the metrics say so."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def engine_rows(stack, model: str, engine: str) -> float:
    text = stack.get("/metrics").text
    labels = f'engine="{engine}",model="{model}",version="\\d+"'
    found = re.findall(r"mlstack_engine_rows_total\{" + labels + r"\} (\S+)", text)
    return sum(float(x) for x in found)


def test_the_demo_ridge_is_served_by_numpy_in_every_worker(running):
    model = running.get("/api/v1/models/diabetes").json()
    production = next(v for v in model["versions"] if v["stage"] == "production")
    assert production["runtime"]["engine"] == "numpy", production["runtime"]
    assert production["runtime"]["verified"] is True
    tree = running.get("/api/v1/models/iris").json()["versions"][0]["runtime"]
    assert tree["engine"] == "sklearn" and tree["reason"].startswith("no compiled form for")

    example = running.get("/api/v1/models/diabetes/schema").json()["example"]
    before = engine_rows(running, "diabetes", "numpy")
    answers = set()
    for _ in range(40):  # nginx spreads them over both workers
        r = running.post("/api/v1/models/diabetes/predict", json=example)
        assert r.status_code == 200, r.text
        answers.add(r.json()["predictions"][0])
    assert len(answers) == 1  # the same bits from every worker
    assert engine_rows(running, "diabetes", "numpy") - before == 40
    assert engine_rows(running, "diabetes", "sklearn") == 0
