"""Training through the stack: the job is queued by gunicorn in PostgreSQL, claimed and
run by the supervised worker, and its version served back through nginx."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest

from tests.integration.conftest import AUTH, eventually, train, wait_job

pytestmark = pytest.mark.integration


@pytest.fixture
def with_worker(running):
    running.wait_running(("worker",), timeout=60)
    return running


def test_train_on_a_bundled_dataset_and_predict(with_worker):
    stack = with_worker
    job = train(
        stack,
        "it-wine",
        {
            "dataset": "wine",
            "algorithm": "random_forest",
            "params": {"n_estimators": 20},
            "random_state": 0,
            "promote": True,
        },
    )
    assert job["status"] in ("queued", "running")
    # the job URL is relative, or absolute on the client's own origin
    url = urlsplit(job["url"])
    assert url.netloc in ("", "127.0.0.1:5001"), job["url"]
    assert stack.get(url.path).status_code == 200
    done = wait_job(stack, job["id"])
    assert done["status"] == "succeeded", done
    version = done["result_version"]

    model = stack.get("/api/v1/models/it-wine").json()
    assert model["production_version"] == version

    def served():
        schema = stack.get("/api/v1/models/it-wine/schema")
        assert schema.status_code == 200, schema.text
        p = stack.post("/api/v1/models/it-wine/predict", json=schema.json()["example"])
        assert p.status_code == 200, p.text
        assert p.json()["version"] == version

    eventually(served)


def test_upload_a_csv_train_on_it_and_predict(with_worker):
    stack = with_worker
    rows = ["size,color,price"] + [
        f"{i % 17 + 1},{['red', 'blue', 'green'][i % 3]},{(i % 17) * 3 + i % 3}" for i in range(120)
    ]
    csv = ("\n".join(rows) + "\n").encode()
    r = stack.post(
        "/api/v1/datasets",
        headers=AUTH,
        data={"target": "price", "name": "it-prices"},
        files={"file": ("prices.csv", io.BytesIO(csv), "text/csv")},
    )
    assert r.status_code == 201, r.text
    dataset = r.json()
    assert dataset["n_rows"] == 120

    job = train(
        stack,
        "it-prices",
        {"dataset": dataset["id"], "target": "price", "algorithm": "ridge", "promote": True},
    )
    done = wait_job(stack, job["id"])
    assert done["status"] == "succeeded", done

    def served():
        # raw rows, one with a category never seen in training
        p = stack.post(
            "/api/v1/models/it-prices/predict",
            json={"instances": [{"size": 4, "color": "blue"}, {"size": 9, "color": "purple"}]},
        )
        assert p.status_code == 200, p.text
        assert len(p.json()["predictions"]) == 2

    eventually(served)
