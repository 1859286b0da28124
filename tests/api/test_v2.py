"""The Open Inference Protocol (V2) at /v2 with the Flask test client, on SQLite and
PostgreSQL: every answer, every error class and its `{"error": ...}` body."""

import json
import struct

import numpy as np
import pandas as pd
import pytest

from tests.conftest import IRIS_FEATURES


def infer(client, name, body, path_version=None, **kw):
    url = f"/v2/models/{name}" + (f"/versions/{path_version}" if path_version else "") + "/infer"
    return client.post(url, json=body, **kw)


def tensor(rows, name="input-0", datatype="FP64"):
    rows = np.asarray(rows)
    return {
        "name": name,
        "datatype": datatype,
        "shape": list(rows.shape),
        "data": rows.ravel().tolist(),
    }


def test_health_and_server_metadata(client, iris):
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    meta = client.get("/v2").get_json()
    assert meta["name"] == "mlstack" and "binary_tensor_data" in meta["extensions"]
    assert isinstance(meta["version"], str)


def test_ready_is_503_with_an_error_when_no_model_is_served(client):
    res = client.get("/v2/health/ready")
    assert res.status_code == 503 and "production" in res.get_json()["error"]


def test_model_metadata_lists_features_outputs_and_the_class_order(client, iris):
    meta = client.get("/v2/models/iris").get_json()
    assert (
        meta["name"] == "iris" and meta["versions"] == ["1", "2"] and meta["platform"] == "sklearn"
    )
    assert [i["name"] for i in meta["inputs"]] == IRIS_FEATURES
    assert all(i["datatype"] == "FP64" and i["shape"] == [-1] for i in meta["inputs"])
    predict, proba = meta["outputs"]
    assert predict == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    assert proba["shape"] == [-1, 3] and json.loads(proba["parameters"]["classes"]) == [0, 1, 2]
    assert client.get("/v2/models/iris/versions/2").get_json()["parameters"]["version"] == "2"
    assert client.get("/v2/models/iris/ready").get_json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/iris/versions/2/ready").status_code == 200


def test_one_tensor_flat_or_nested_predicts_like_the_model(client, iris, iris_data):
    X, _ = iris_data
    flat = tensor(X[:5])
    nested = dict(flat, data=X[:5].tolist(), name="anything")
    for inp in (flat, nested):
        res = infer(client, "iris", {"id": "r1", "inputs": [inp], "unknown_field": 1})
        assert res.status_code == 200, res.get_json()
        body = res.get_json()
        assert body["model_name"] == "iris" and body["model_version"] == "1" and body["id"] == "r1"
        assert body["outputs"] == [
            {
                "name": "predict",
                "datatype": "INT64",
                "shape": [5],
                "data": iris["tree"].predict(X[:5]).tolist(),
            }
        ]


def test_predict_proba_alone_or_beside_predict_with_a_version(client, iris, iris_data):
    X, _ = iris_data
    res = infer(
        client,
        "iris",
        {"inputs": [tensor(X)], "outputs": [{"name": "predict_proba"}]},
        path_version=2,
    )
    (proba,) = res.get_json()["outputs"]
    assert res.get_json()["model_version"] == "2" and proba["shape"] == [150, 3]
    assert json.loads(proba["parameters"]["classes"]) == [0, 1, 2]
    np.testing.assert_allclose(
        np.reshape(proba["data"], proba["shape"]), iris["gb"].predict_proba(X)
    )
    res = infer(
        client,
        "iris",
        {"inputs": [tensor(X[:2])], "outputs": [{"name": "predict"}, {"name": "predict_proba"}]},
    )
    assert [o["name"] for o in res.get_json()["outputs"]] == ["predict", "predict_proba"]


def test_columnar_inputs_with_categories_by_content_type_or_by_names(client, registry, mixed_model):
    model, _ = mixed_model
    registry.add_estimator("mixed", model)
    cols = [
        {"name": "city", "datatype": "BYTES", "shape": [3], "data": ["nice", "paris", None]},
        {"name": "age", "datatype": "FP64", "shape": [3, 1], "data": [[52.0], [None], [20.0]]},
    ]
    expected = model.predict(
        pd.DataFrame({"age": [52.0, np.nan, 20.0], "city": ["nice", "paris", None]})
    )
    for params in ({"content_type": "pd"}, {}):
        res = infer(client, "mixed", {"inputs": cols, "parameters": params})
        assert res.status_code == 200, res.get_json()
        assert res.get_json()["outputs"][0]["data"] == expected.tolist()
    meta = client.get("/v2/models/mixed").get_json()
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"age": "FP64", "city": "BYTES"}


def test_string_labels_answer_bytes_and_regressors_fp64(
    client, registry, iris_data, diabetes_model
):
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_data
    registry.add_estimator(
        "named", DecisionTreeClassifier(random_state=0).fit(X, np.array(["a", "b", "c"])[y])
    )
    out = infer(client, "named", {"inputs": [tensor(X[:1])]}).get_json()["outputs"][0]
    assert out["datatype"] == "BYTES" and out["data"] == ["a"]
    reg, Xd = diabetes_model
    registry.add_estimator("diabetes", reg)
    out = infer(client, "diabetes", {"inputs": [tensor(Xd[:2])]}).get_json()["outputs"][0]
    assert out["datatype"] == "FP64"
    np.testing.assert_allclose(out["data"], reg.predict(Xd[:2]))
    res = infer(
        client, "diabetes", {"inputs": [tensor(Xd[:2])], "outputs": [{"name": "predict_proba"}]}
    )
    assert res.status_code == 400 and "predict_proba" in res.get_json()["error"]


def binary_body(header: dict, *blobs: bytes) -> tuple[bytes, dict]:
    head = json.dumps(header).encode()
    return head + b"".join(blobs), {"Inference-Header-Content-Length": str(len(head))}


def test_binary_inputs_without_a_content_type(client, iris, iris_data, registry, mixed_model):
    X, _ = iris_data
    data = X[:4].astype("<f4").tobytes()
    body, headers = binary_body(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [4, 4],
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        },
        data,
    )
    res = client.post("/v2/models/iris/infer", data=body, headers=headers)
    assert res.status_code == 200, res.get_json()
    assert (
        res.get_json()["outputs"][0]["data"]
        == iris["tree"].predict(X[:4].astype("float32")).tolist()
    )
    registry.add_estimator("mixed", mixed_model[0])
    cities = b"".join(struct.pack("<I", len(c)) + c for c in (b"nice", b"lyon"))
    ages = np.array([30.0, 50.0], "<f8").tobytes()
    body, headers = binary_body(
        {
            "inputs": [
                {
                    "name": "city",
                    "datatype": "BYTES",
                    "shape": [2],
                    "parameters": {"binary_data_size": len(cities)},
                },
                {
                    "name": "age",
                    "datatype": "FP64",
                    "shape": [2],
                    "parameters": {"binary_data_size": len(ages)},
                },
            ]
        },
        cities,
        ages,
    )
    res = client.post(
        "/v2/models/mixed/infer",
        data=body,
        headers=headers,
        content_type="application/octet-stream",
    )
    assert res.status_code == 200, res.get_json()
    assert len(res.get_json()["outputs"][0]["data"]) == 2


def test_a_binary_batch_answers_as_api_v1_bit_for_bit(client, iris, iris_data):
    """A binary [N, F] tensor is cast as it lies in the body (app/core/v2.py): the same
    labels and probabilities as the JSON rows of /api/v1, and its bad values named."""
    X, _ = iris_data
    data = X.astype("<f8").tobytes()
    header = {
        "inputs": [
            {
                "name": "x",
                "datatype": "FP64",
                "shape": list(X.shape),
                "parameters": {"binary_data_size": len(data)},
            }
        ],
        "outputs": [
            {"name": "predict"},
            {"name": "predict_proba", "parameters": {"binary_data": True}},
        ],
    }
    body, headers = binary_body(header, data)
    res = client.post("/v2/models/iris/infer", data=body, headers=headers)
    assert res.status_code == 200, res.get_json()
    v1 = client.post(
        "/api/v1/models/iris/predict", json={"instances": X.tolist(), "return_proba": True}
    ).get_json()
    n = int(res.headers["Inference-Header-Content-Length"])
    predict, proba = json.loads(res.data[:n])["outputs"]
    assert predict["data"] == v1["predictions"]
    probabilities = np.frombuffer(res.data[n:], "<f8").reshape(proba["shape"])
    assert probabilities.tobytes() == np.array(v1["probabilities"], dtype=np.float64).tobytes()

    bad = X[:4].copy()
    bad[2, 1] = np.nan
    data = bad.astype("<f8").tobytes()
    header["inputs"][0] |= {"shape": [4, 4], "parameters": {"binary_data_size": len(data)}}
    body, headers = binary_body(header, data)
    res = client.post("/v2/models/iris/infer", data=body, headers=headers)
    assert res.status_code == 400
    assert res.get_json() == {
        "error": "the instances do not match the model's input schema "
        "(instances[2].sepal_width: missing value: this feature is required)"
    }


def _binary_short():
    return binary_body(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP64",
                    "shape": [1, 4],
                    "parameters": {"binary_data_size": 32},
                }
            ]
        },
        b"\0" * 16,
    )


@pytest.mark.parametrize(
    "body, headers, words",
    [
        (b"", {}, "empty"),
        (b"{not json", {}, "malformed"),
        (b"[1]", {}, "object"),
        (json.dumps({"inputs": []}).encode(), {}, "inputs"),
        (json.dumps({"inputs": [tensor([[1, 2, 3]])]}).encode(), {}, "[N, 4]"),
        (
            json.dumps({"inputs": [dict(tensor([[1, 2, 3, 4]]), shape=[2, 4])]}).encode(),
            {},
            "shape",
        ),
        (
            json.dumps({"inputs": [dict(tensor([[1, 2, 3, 4]]), datatype="FP128")]}).encode(),
            {},
            "datatype",
        ),
        (
            json.dumps(
                {"inputs": [dict(tensor([[1, 2, 3, 4]]), data=["a", "b", "c", "d"])]}
            ).encode(),
            {},
            "FP64",
        ),
        (
            json.dumps(
                {"inputs": [tensor([[1, 2, 3, 4]])], "outputs": [{"name": "proba"}]}
            ).encode(),
            {},
            "predict, predict_proba",
        ),
        (
            json.dumps(
                {
                    "inputs": [
                        {"name": "sepal_length", "datatype": "FP64", "shape": [1], "data": [1]},
                        {"name": "petal_width", "datatype": "FP64", "shape": [1], "data": [1]},
                    ]
                }
            ).encode(),
            {},
            "features",
        ),
        (*_binary_short(), "binary_data_size"),
        (b"{}", {"Inference-Header-Content-Length": "99"}, "Inference-Header-Content-Length"),
    ],
)
def test_bad_requests_are_400_naming_the_problem(client, iris, body, headers, words):
    res = client.post("/v2/models/iris/infer", data=body, headers=headers)
    assert res.status_code == 400, res.get_json()
    assert set(res.get_json()) == {"error"} and words in res.get_json()["error"]


def test_unknown_models_versions_and_paths_are_404_in_the_v2_shape(client, iris):
    for url in (
        "/v2/models/nope",
        "/v2/models/iris/versions/9",
        "/v2/models/nope/ready",
        "/v2/nothing/here",
    ):
        res = client.get(url)
        assert res.status_code == 404 and set(res.get_json()) == {"error"}, url
    res = infer(client, "nope", {"inputs": [tensor([[1, 2, 3, 4]])]})
    assert res.status_code == 404 and res.get_json() == {"error": "model 'nope' not found"}
    assert "message" in client.get("/api/v1/models/nope").get_json()  # /api/v1 keeps its own body


def test_too_many_rows_and_too_large_bodies_are_413(app, client, iris):
    rows = np.zeros((app.extensions["mlstack"].predictions.max_request_rows + 1, 4))
    res = infer(client, "iris", {"inputs": [tensor(rows)]})
    assert res.status_code == 413 and "rows" in res.get_json()["error"]
    app.config["MAX_CONTENT_LENGTH"] = 100
    res = client.post("/v2/models/iris/infer", data=b"x" * 200)
    assert res.status_code == 413 and set(res.get_json()) == {"error"}


def test_a_corrupt_artifact_is_503(client, registry, iris, app):
    import pathlib

    for p in pathlib.Path(app.extensions["mlstack"].config.MODEL_STORE).rglob("*"):
        if p.is_file():
            p.write_bytes(b"corrupt")
    registry.cache.clear()
    res = infer(client, "iris", {"inputs": [tensor([[1, 2, 3, 4]])]})
    assert res.status_code == 503 and "sha256" in res.get_json()["error"]
    assert client.get("/v2/models/iris/ready").status_code == 503


def test_swagger_documents_the_v2_namespace(client):
    spec = client.get("/v2/swagger.json").get_json()
    assert "/models/{name}/infer" in spec["paths"] and spec["tags"][0]["name"] == "v2"
    assert client.get("/v2/docs").status_code == 200


def test_schemathesis_over_the_v2_operations(app, registry, iris_models, mixed_model):
    """Generated requests (valid and not) never get a 5xx nor an undocumented response."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
    )

    registry.add_estimator("iris", iris_models["tree"])
    registry.add_estimator("mixed", mixed_model[0])
    schema = schemathesis.openapi.from_wsgi("/v2/swagger.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.validate_response(
                case.call(),
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        run()


def test_columnar_v2_on_a_trained_pipeline_answers_as_api_v1(client, app):
    """A pipeline from the training endpoint (categorical column, missing values),
    asked pandas-style in JSON and in binary: the same answers as /api/v1."""
    from app.services import services_of
    from app.worker import Worker
    from tests.api.test_training import people_csv, train, upload

    services = services_of(app)
    worker = Worker(
        services.queue,
        services.registry,
        services.datasets,
        worker_id="v2-worker",
        poll_seconds=0.05,
    )
    ds = upload(client, people_csv(), name="people.csv").get_json()
    assert (
        train(
            client,
            "people",
            dataset=ds["id"],
            algorithm="hist_gradient_boosting",
            params={"max_iter": 20},
        ).status_code
        == 202
    )
    assert worker.run_one()
    rows = [
        {"age": 60, "city": "paris", "income": 1500},
        {"age": None, "city": None, "income": None},
        {"age": 25, "city": "atlantis", "income": 1200},
    ]
    v1 = client.post(
        "/api/v1/models/people/predict", json={"instances": rows, "return_proba": True}
    ).get_json()
    cols = [
        {"name": "city", "datatype": "BYTES", "shape": [3], "data": [r["city"] for r in rows]}
    ] + [
        {"name": n, "datatype": "FP64", "shape": [3], "data": [r[n] for r in rows]}
        for n in ("age", "income")
    ]
    res = infer(
        client,
        "people",
        {
            "inputs": cols,
            "parameters": {"content_type": "pd"},
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        },
    )
    assert res.status_code == 200, res.get_json()
    predict, proba = res.get_json()["outputs"]
    assert predict["datatype"] == "BYTES" and predict["data"] == v1["predictions"]
    assert json.loads(proba["parameters"]["classes"]) == v1["classes"]
    np.testing.assert_allclose(np.reshape(proba["data"], proba["shape"]), v1["probabilities"])
    known = rows[:1]
    city = b"".join(struct.pack("<I", len(c)) + c for c in (known[0]["city"].encode(),))
    nums = {n: np.array([known[0][n]], "<f8").tobytes() for n in ("age", "income")}
    body, headers = binary_body(
        {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {
                    "name": "city",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": len(city)},
                },
                *(
                    {
                        "name": n,
                        "datatype": "FP64",
                        "shape": [1],
                        "parameters": {"binary_data_size": 8},
                    }
                    for n in nums
                ),
            ],
        },
        city,
        *nums.values(),
    )
    res = client.post("/v2/models/people/infer", data=body, headers=headers)
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["outputs"][0]["data"] == v1["predictions"][:1]


def test_binary_outputs_when_asked(client, iris, iris_data, registry):
    X, y = iris_data
    res = infer(
        client,
        "iris",
        {
            "inputs": [tensor(X[:3])],
            "outputs": [
                {"name": "predict", "parameters": {"binary_data": True}},
                {"name": "predict_proba"},
            ],
        },
    )
    assert res.status_code == 200 and res.mimetype == "application/octet-stream"
    n = int(res.headers["Inference-Header-Content-Length"])
    head = json.loads(res.data[:n])
    predict, proba = head["outputs"]
    assert "data" not in predict and predict["parameters"]["binary_data_size"] == 24
    assert np.frombuffer(res.data[n:], "<i8").tolist() == iris["tree"].predict(X[:3]).tolist()
    assert len(proba["data"]) == 9  # not asked in binary: JSON
    from sklearn.tree import DecisionTreeClassifier

    registry.add_estimator(
        "named", DecisionTreeClassifier(random_state=0).fit(X, np.array(["a", "bb", "c"])[y])
    )
    res = infer(
        client, "named", {"inputs": [tensor(X[:1])], "parameters": {"binary_data_output": True}}
    )
    n = int(res.headers["Inference-Header-Content-Length"])
    assert res.data[n:] == struct.pack("<I", 1) + b"a"
