"""Training limits over HTTP (SQLite and PostgreSQL): a spec beyond a limit is a 400
naming the limit's setting, before anything is queued; the configured values apply."""

from __future__ import annotations

import pytest

from tests.api.test_training import train, upload
from tests.conftest import AUTH


@pytest.fixture
def config(config):
    config.TRAIN_MAX_ESTIMATORS = 40
    config.TRAIN_MAX_CELLS = 2_000
    config.JOB_N_JOBS = 1
    return config


def no_jobs(client) -> bool:
    return client.get("/api/v1/jobs").get_json() == []


def test_an_estimator_count_beyond_the_configured_limit_is_a_400_naming_it(client):
    res = train(client, "m", dataset="iris", algorithm="random_forest", params={"n_estimators": 41})
    body = res.get_json()
    assert res.status_code == 400, body
    assert "TRAIN_MAX_ESTIMATORS" in body["message"]
    assert (
        body["errors"]["params.n_estimators"] == "41 exceeds the limit of 40 (TRAIN_MAX_ESTIMATORS)"
    )
    assert no_jobs(client)


def test_an_id_column_as_target_is_a_400_not_thousands_of_classes(client):
    rows = "\n".join(f"{i},{i % 7},order-{i:06d}" for i in range(300))
    up = upload(client, f"x,y,order\n{rows}\n".encode(), target="order")
    assert up.status_code == 201, up.get_json()
    res = train(client, "m", dataset=up.get_json()["id"])
    body = res.get_json()
    assert res.status_code == 400, body
    assert (
        "TRAIN_MAX_CLASSES" in body["errors"]["target"] and "300 distinct values" in body["message"]
    )
    assert no_jobs(client)


def test_a_dataset_beyond_rows_times_columns_is_a_400_naming_the_limit(client):
    rows = "\n".join(f"{i},{i * 2},{i % 3},{i % 2}" for i in range(600))  # 600 x 4 = 2400
    up = upload(client, f"a,b,c,label\n{rows}\n".encode())
    assert up.status_code == 201, up.get_json()
    res = train(client, "m", dataset=up.get_json()["id"])
    assert res.status_code == 400 and "TRAIN_MAX_CELLS" in res.get_json()["errors"]["dataset"]
    fewer = train(client, "m", dataset=up.get_json()["id"], features=["a", "b"])  # 600 x 3
    assert fewer.status_code == 202, fewer.get_json()


def test_n_jobs_is_stored_as_the_workers_allowance(client):
    res = train(client, "m", dataset="iris", algorithm="random_forest", params={"n_jobs": -1})
    assert res.status_code == 202, res.get_json()
    assert res.get_json()["spec"]["params"]["n_jobs"] == 1
    shown = client.get(f"/api/v1/jobs/{res.get_json()['id']}", headers=AUTH).get_json()
    assert shown["spec"]["params"]["n_jobs"] == 1
