"""Training over HTTP on SQLite and PostgreSQL: datasets, 202 + job, a worker (run in
process here; as real processes in test_workers.py), and the new version serving."""

from __future__ import annotations

import io

import pytest

from app.services import services_of
from app.worker import Worker
from tests.conftest import AUTH

IRIS_ROW = {
    "sepal length (cm)": 5.1,
    "sepal width (cm)": 3.5,
    "petal length (cm)": 1.4,
    "petal width (cm)": 0.2,
}


@pytest.fixture
def worker(app):
    services = services_of(app)
    return Worker(
        services.queue,
        services.registry,
        services.datasets,
        worker_id="test-worker",
        poll_seconds=0.05,
    )


def train(client, name, **spec):
    return client.post(f"/api/v1/models/{name}/train", json=spec, headers=AUTH)


def upload(client, body: bytes, target="label", name="data.csv", **form):
    data = {"file": (io.BytesIO(body), name), "target": target, **form}
    return client.post(
        "/api/v1/datasets", data=data, headers=AUTH, content_type="multipart/form-data"
    )


def people_csv(n: int = 80) -> bytes:
    lines = ["age,city,income,label"]
    cities = ["paris", "lyon", "nice", "lille"]
    for i in range(n):
        age = 20 + (i * 7) % 50
        income = "" if i % 11 == 0 else str(1000 + (i * 37) % 900)
        city = "" if i % 13 == 0 else cities[i % 4]
        lines.append(f"{age},{city},{income},{'senior' if age >= 45 else 'junior'}")
    return ("\n".join(lines) + "\n").encode()


def test_iris_goes_from_202_to_succeeded_and_predicts(client, worker):
    res = train(
        client,
        "flowers",
        dataset="iris",
        algorithm="decision_tree",
        params={"max_depth": 3},
        cv_folds=3,
    )
    assert res.status_code == 202, res.get_json()
    job = res.get_json()
    assert job["status"] == "queued" and job["url"] == f"/api/v1/jobs/{job['id']}"
    assert res.headers["Location"].endswith(job["url"])
    assert job["spec"]["task"] == "classification" and job["spec"]["random_state"] == 0

    assert worker.run_one()
    done = client.get(job["url"]).get_json()
    assert done["status"] == "succeeded", done
    assert done["result_version"] == 1 and done["attempts"] == 1 and done["stage"] == "done"

    version = client.get("/api/v1/models/flowers/versions/1").get_json()
    assert version["algorithm"] == "decision_tree"
    assert {"accuracy", "f1_macro", "roc_auc"} <= set(version["metrics"]["test"])
    assert version["metrics"]["cv"]["folds"] == 3
    assert version["training"]["dataset"]["sha256"] and version["training"]["job_id"] == job["id"]
    assert set(version["training"]["libraries"]) >= {"sklearn", "numpy", "pandas", "python"}

    pred = client.post(
        "/api/v1/models/flowers/predict", json={"instances": [IRIS_ROW], "return_proba": True}
    )
    assert pred.status_code == 200, pred.get_json()
    assert pred.get_json()["predictions"] == ["setosa"]
    assert pred.get_json()["classes"] == ["setosa", "versicolor", "virginica"]


def test_an_uploaded_csv_trains_a_pipeline_that_takes_raw_rows(client, worker):
    res = upload(client, people_csv(), name="people.csv")
    assert res.status_code == 201, res.get_json()
    ds = res.get_json()
    assert ds["id"].isdigit() and ds["source"] == "upload" and ds["n_rows"] == 80
    assert {c["name"]: c["type"] for c in ds["columns"]} == {
        "age": "numeric",
        "city": "categorical",
        "income": "numeric",
        "label": "categorical",
    }
    assert len(ds["sample"]) == 5 and ds["sample"][0]["city"] is None

    shown = client.get(f"/api/v1/datasets/{ds['id']}", headers=AUTH).get_json()
    assert shown["sha256"] == ds["sha256"] and len(shown["sample"]) == 5
    listed = client.get("/api/v1/datasets").get_json()
    assert {"iris", "wine", "breast_cancer", "diabetes", ds["id"]} <= {d["id"] for d in listed}

    res = train(
        client,
        "people",
        dataset=ds["id"],
        algorithm="hist_gradient_boosting",
        params={"max_iter": 20},
    )
    assert res.status_code == 202, res.get_json()
    assert worker.run_one()
    job = client.get(res.get_json()["url"]).get_json()
    assert job["status"] == "succeeded", job

    schema = client.get("/api/v1/models/people/schema").get_json()
    city = next(f for f in schema["features"] if f["name"] == "city")
    assert city["allow_unknown"] and city["nullable"] and "paris" in city["categories"]
    rows = [
        {"age": 60, "city": "paris", "income": 1500},
        {"age": None, "city": None, "income": None},
        {"age": 25, "city": "atlantis", "income": 1200},
    ]
    pred = client.post("/api/v1/models/people/predict", json={"instances": rows})
    assert pred.status_code == 200, pred.get_json()
    assert set(pred.get_json()["predictions"]) <= {"junior", "senior"}


def test_a_trained_and_promoted_version_is_the_one_served(client, worker):
    for spec in (
        {"algorithm": "decision_tree"},
        {"algorithm": "gradient_boosting", "params": {"n_estimators": 5}},
        {"algorithm": "linear", "promote": True},
    ):
        assert train(client, "flowers", dataset="iris", **spec).status_code == 202
        assert worker.run_one()
    model = client.get("/api/v1/models/flowers").get_json()
    assert model["production_version"] == 3 and model["latest_version"] == 3
    assert [v["algorithm"] for v in model["versions"]] == [
        "decision_tree",
        "gradient_boosting",
        "linear",
    ]
    pred = client.post("/api/v1/models/flowers/predict", json={"instances": [IRIS_ROW]})
    assert pred.get_json()["version"] == 3


def test_a_job_whose_training_fails_is_failed_and_the_worker_goes_on(client, worker, app):
    # valid when queued; the data is not there any more when the worker loads it
    ds = upload(client, people_csv()).get_json()
    bad = train(client, "people", dataset=ds["id"], algorithm="decision_tree").get_json()
    good = train(client, "flowers", dataset="iris", algorithm="decision_tree").get_json()
    store = services_of(app).datasets
    (store.root / f"{ds['sha256']}.csv").write_bytes(b"age,label\n")
    assert worker.run_one() and worker.run_one()
    failed = client.get(bad["url"]).get_json()
    assert failed["status"] == "failed" and "checksum" in failed["error"]
    assert client.get(good["url"]).get_json()["status"] == "succeeded"


def test_jobs_are_listed_and_queued_ones_cancelled(client):
    a = train(client, "flowers", dataset="iris").get_json()
    train(client, "wines", dataset="wine")
    listed = client.get("/api/v1/jobs?status=queued")
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "2"
    assert [j["model"] for j in client.get("/api/v1/jobs?model=wines").get_json()] == ["wines"]
    assert client.post(f"/api/v1/jobs/{a['id']}/cancel").status_code == 401
    res = client.post(f"/api/v1/jobs/{a['id']}/cancel", headers=AUTH)
    assert res.status_code == 200 and res.get_json()["status"] == "cancelled"
    again = client.post(f"/api/v1/jobs/{a['id']}/cancel", headers=AUTH)
    assert again.status_code == 409 and "cancelled" in again.get_json()["message"]
    assert client.get("/api/v1/jobs/999").status_code == 404
    assert client.get("/api/v1/jobs?status=done").status_code == 400
    assert client.get("/api/v1/jobs?limit=x").status_code == 400


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"dataset": "iris", "algorithm": "deep_learning"}, "algorithm"),
        (
            {"dataset": "iris", "algorithm": "decision_tree", "params": {"max_deepth": 3}},
            "params.max_deepth",
        ),
        ({"dataset": "iris", "algorithm": "decision_tree", "params": {"max_depth": -3}}, "params"),
        ({"dataset": "iris", "algorithm": "linear_regression"}, "algorithm"),
        ({"dataset": "iris", "task": "regression"}, "task"),
        ({"dataset": "iris", "target": "colour"}, "target"),
        ({"dataset": "iris", "test_size": 2}, "test_size"),
        ({"dataset": "iris", "cv_folds": 1}, "cv_folds"),
        ({"dataset": "mnist"}, "dataset"),
        ({"dataset": "12345"}, "dataset"),
        ({"dataset": "iris", "epochs": 3}, "epochs"),
    ],
)
def test_bad_training_requests_get_400_naming_the_field(client, spec, field):
    res = train(client, "flowers", **spec)
    assert res.status_code == 400, res.get_json()
    body = res.get_json()
    assert field in body["errors"] and body["message"] and body["request_id"]
    assert client.get("/api/v1/jobs").get_json() == []  # nothing was queued


def test_training_requests_are_checked_for_shape_name_and_token(client):
    assert client.post("/api/v1/models/flowers/train", json={"dataset": "iris"}).status_code == 401
    assert train(client, "Bad Name!", dataset="iris").status_code in (400, 404)
    res = client.post(
        "/api/v1/models/flowers/train", json={"dataset": "iris", "test_size": "big"}, headers=AUTH
    )
    assert res.status_code == 400
    res = client.post(
        "/api/v1/models/flowers/train",
        data="not json",
        headers=AUTH,
        content_type="application/json",
    )
    assert res.status_code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"a,b,label\n", "no data rows"),
        (b"a,a,label\n1,2,x\n", "duplicate column names in the CSV header: a"),
        (b"a,b,c\n1,2,3\n", "no target column 'label'"),
        (b"a,b,label\n1,2,x\n3,4,5,6\n", "cannot be parsed"),
        (b"a,b,label\n\xff\xfe,1,x\n", "not UTF-8"),
    ],
)
def test_bad_csvs_get_400_saying_why(client, body, message):
    res = upload(client, body)
    assert res.status_code == 400, res.get_json()
    assert message in res.get_json()["message"]


def test_dataset_uploads_need_the_token_a_file_and_fit_the_size_limit(client, app):
    assert (
        client.post(
            "/api/v1/datasets", data={"target": "x"}, content_type="multipart/form-data"
        ).status_code
        == 401
    )
    res = client.post(
        "/api/v1/datasets",
        data={"target": "label"},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert res.status_code == 400 and "file" in res.get_json()["message"]
    assert client.post("/api/v1/datasets", json={}, headers=AUTH).status_code == 415
    services_of(app).datasets.max_bytes = 100
    res = upload(client, people_csv())
    assert res.status_code == 413 and "limit" in res.get_json()["message"]


def test_bundled_datasets_and_algorithms_are_listed(client):
    iris = client.get("/api/v1/datasets/iris").get_json()
    assert iris["source"] == "bundled" and iris["target"] == "target" and iris["n_rows"] == 150
    assert iris["sample"][0]["target"] == "setosa"
    assert client.get("/api/v1/datasets/nope").status_code == 404
    algos = {a["name"]: a for a in client.get("/api/v1/algorithms").get_json()}
    assert {
        "linear",
        "ridge",
        "lasso",
        "decision_tree",
        "random_forest",
        "gradient_boosting",
        "hist_gradient_boosting",
    } <= set(algos)
    assert "max_depth" in algos["decision_tree"]["params"]["classification"]
