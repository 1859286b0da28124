"""Model listing, upload, promotion and the admin token, on SQLite and PostgreSQL."""

import io
import pickle

import orjson
import pytest
import skops.io as sio

from tests.conftest import AUTH, iris_schema
from tests.unit.test_registry import Sneaky


def upload(client, name, data, filename="model.skops", headers=AUTH, **form):
    fields = {"file": (io.BytesIO(data), filename)}
    fields.update(
        {k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in form.items()}
    )
    return client.post(
        f"/api/v1/models/{name}/versions",
        data=fields,
        headers=headers,
        content_type="multipart/form-data",
    )


def test_list_and_show_models_with_their_versions(client, iris):
    listed = client.get("/api/v1/models").get_json()
    assert [(m["name"], m["production_version"], m["latest_version"]) for m in listed] == [
        ("iris", 1, 2)
    ]
    shown = client.get("/api/v1/models/iris").get_json()
    assert [(v["version"], v["stage"]) for v in shown["versions"]] == [
        (1, "production"),
        (2, "available"),
    ]
    assert (
        client.get("/api/v1/models/iris/versions/2").get_json()["algorithm"]
        == "GradientBoostingClassifier"
    )


def test_schema_endpoint_lists_features_and_a_valid_example(client, iris):
    doc = client.get("/api/v1/models/iris/schema?version=2").get_json()
    assert doc["version"] == 2
    assert [f["name"] for f in doc["features"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    assert doc["example"]["instances"][0]["petal_width"] == 0.2


def test_upload_registers_a_version_that_predicts(client, iris_models):
    res = upload(
        client,
        "flowers",
        sio.dumps(iris_models["gb"]),
        schema=iris_schema(),
        metrics={"accuracy": 0.97},
        description="iris again",
    )
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    assert (body["version"], body["stage"], body["metrics"]) == (
        1,
        "production",
        {"accuracy": 0.97},
    )
    pred = client.post("/api/v1/models/flowers/predict", json={"instances": [[6.7, 3.0, 5.2, 2.3]]})
    assert (
        pred.get_json()["predictions"] == iris_models["gb"].predict([[6.7, 3.0, 5.2, 2.3]]).tolist()
    )
    again = upload(
        client, "flowers", sio.dumps(iris_models["tree"]), schema=iris_schema(), promote="true"
    )
    assert (again.get_json()["version"], again.get_json()["stage"]) == (2, "production")


def test_upload_without_schema_derives_it_from_the_estimator(client, mixed_model):
    res = upload(client, "mixed", sio.dumps(mixed_model[0]))
    assert res.status_code == 201
    features = res.get_json()["schema"]["features"]
    assert [(f["name"], f["type"]) for f in features] == [
        ("age", "numeric"),
        ("city", "categorical"),
    ]


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        ({"Authorization": "Basic abc"}, 401),
        ({"Authorization": "Bearer wrong"}, 403),
    ],
)
def test_admin_operations_need_the_token(client, iris, iris_models, headers, status):
    res = upload(client, "iris", sio.dumps(iris_models["gb"]), headers=headers)
    assert res.status_code == status
    assert res.get_json()["message"]
    res = client.post("/api/v1/models/iris/versions/2/promote", headers=headers)
    assert res.status_code == status
    assert client.get("/api/v1/models/iris").get_json()["production_version"] == 1


def test_untrusted_types_are_refused_with_400_naming_them(client, iris_data):
    res = upload(client, "sneaky", sio.dumps(Sneaky().fit(*iris_data)))
    assert res.status_code == 400
    assert "Sneaky" in res.get_json()["message"]
    assert client.get("/api/v1/models/sneaky").status_code == 404


def test_pickle_uploads_are_refused_by_default(client, iris_models):
    res = upload(client, "iris", pickle.dumps(iris_models["tree"]), filename="model.pkl")
    assert res.status_code == 400
    assert "ALLOW_PICKLE" in res.get_json()["message"]


@pytest.mark.parametrize(
    "form, key",
    [
        ({"schema": "{not json"}, "schema"),
        ({"metrics": "[1, 2]"}, "metrics"),
        ({"schema": {"features": [{"name": "a"}]}}, "features"),
    ],
)
def test_bad_schema_or_metrics_fields_get_400(client, iris_models, form, key):
    res = upload(client, "iris", sio.dumps(iris_models["tree"]), **form)
    assert res.status_code == 400
    assert key in res.get_json()["message"] + str(res.get_json().get("errors"))


def test_upload_needs_multipart_and_a_file(client):
    res = client.post("/api/v1/models/x/versions", json={"file": "x"}, headers=AUTH)
    assert res.status_code == 415
    res = client.post(
        "/api/v1/models/x/versions",
        data={"schema": "{}"},
        headers=AUTH,
        content_type="multipart/form-data",
    )
    assert res.status_code == 400 and res.get_json()["errors"] == {"file": "required"}


def test_uploads_larger_than_the_limit_get_413(client, app, iris_models):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    res = upload(client, "iris", sio.dumps(iris_models["gb"]))
    assert res.status_code == 413
    assert res.get_json()["message"]


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/v1/models/nope", 404),
        ("/api/v1/models/Nope", 400),
        ("/api/v1/models/iris/versions/9", 404),
        ("/api/v1/models/nope/schema", 404),
        ("/api/v1/nothing-here", 404),
    ],
)
def test_unknown_paths_get_json_errors(client, iris, path, status):
    res = client.get(path)
    assert res.status_code == status
    assert res.is_json and res.get_json()["message"]


def test_promote_an_unknown_version_is_404(client, iris):
    assert client.post("/api/v1/models/iris/versions/9/promote", headers=AUTH).status_code == 404
