"""POST /api/v1/models/{name}/predict on SQLite and PostgreSQL."""

import numpy as np
import pytest

from app.services import services_of
from tests.conftest import IRIS_FEATURES


def predict(client, name, body, **kw):
    return client.post(f"/api/v1/models/{name}/predict", json=body, **kw)


def test_the_schema_example_predicts_like_the_model_in_process(client, iris):
    example = client.get("/api/v1/models/iris/schema").get_json()["example"]
    res = predict(client, "iris", example)
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    row = [example["instances"][0][f] for f in IRIS_FEATURES]
    assert body["model"] == "iris" and body["version"] == 1
    assert body["predictions"] == iris["tree"].predict([row]).tolist()
    assert body["classes"] == [0, 1, 2]
    np.testing.assert_allclose(body["probabilities"], iris["tree"].predict_proba([row]))


def test_a_batch_of_objects_and_arrays_with_probabilities(client, iris, iris_data):
    X, _ = iris_data
    instances = [dict(zip(IRIS_FEATURES, r, strict=True)) for r in X[:75].tolist()] + X[
        75:
    ].tolist()
    res = predict(
        client, "iris", {"instances": instances, "return_proba": True}, query_string={"version": 2}
    )
    body = res.get_json()
    assert res.status_code == 200 and body["version"] == 2
    assert body["predictions"] == iris["gb"].predict(X).tolist()
    np.testing.assert_allclose(body["probabilities"], iris["gb"].predict_proba(X), rtol=1e-9)


def test_csv_batches_get_the_same_answer(client, iris, iris_data):
    X, _ = iris_data
    csv = (
        ",".join(IRIS_FEATURES)
        + "\n"
        + "\n".join(",".join(map(repr, r)) for r in X.tolist())
        + "\n"
    )
    res = client.post(
        "/api/v1/models/iris/predict?return_proba=true", data=csv, content_type="text/csv"
    )
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["predictions"] == iris["tree"].predict(X).tolist()
    assert len(res.get_json()["probabilities"]) == len(X)


def test_regressors_answer_without_classes(client, registry, diabetes_model):
    model, X = diabetes_model
    registry.add_estimator("diabetes", model)
    res = predict(client, "diabetes", {"instances": X[:3].tolist()})
    assert res.status_code == 200
    assert "classes" not in res.get_json()
    np.testing.assert_allclose(res.get_json()["predictions"], model.predict(X[:3]))
    res = predict(client, "diabetes", {"instances": X[:1].tolist(), "return_proba": True})
    assert res.status_code == 400 and "probabilities" in res.get_json()["message"]


def test_pipelines_with_categories_take_raw_rows_with_missing_values(client, registry, mixed_model):
    model, frame = mixed_model
    registry.add_estimator("mixed", model)
    rows = [
        {"age": 52.0, "city": "nice"},
        {"age": None, "city": "paris"},
        {"age": 20.0, "city": None},
    ]
    res = predict(client, "mixed", {"instances": rows})
    assert res.status_code == 200, res.get_json()
    import pandas as pd

    expected = model.predict(pd.DataFrame(rows).astype({"age": float}))
    assert res.get_json()["predictions"] == expected.tolist()


@pytest.mark.parametrize(
    "body, status, key",
    [
        ({"instances": []}, 400, "instances"),
        ({}, 400, "instances"),
        ({"instances": [[1, 2, 3]]}, 400, "instances[0]"),
        ({"instances": [{"sepal_length": 1}]}, 400, "instances[0].petal_width"),
        ({"instances": [[1, 2, 3, "four"]]}, 400, "instances[0].petal_width"),
        ({"instances": [[1, 2, 3, None]]}, 400, "instances[0].petal_width"),
        ({"instances": [[1, 2, 3, 4]], "return_proba": "yes"}, 400, "return_proba"),
        ({"instances": [[1, 2, 3, 4]], "extra": 1}, 400, "extra"),
        ([1, 2], 400, "body"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(client, iris, body, status, key):
    res = predict(client, "iris", body)
    assert res.status_code == status
    doc = res.get_json()
    assert key in doc["errors"], doc
    assert doc["request_id"] == res.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        (b"{not json", "application/json", 400),
        (b"", "application/json", 400),
        (b"instances=1", "application/x-www-form-urlencoded", 415),
        (b"[1]", "text/plain", 415),
    ],
)
def test_malformed_bodies_and_wrong_content_types(client, iris, data, content_type, status):
    res = client.post("/api/v1/models/iris/predict", data=data, content_type=content_type)
    assert res.status_code == status
    assert res.get_json()["message"]


def test_too_many_rows_is_413(client, iris, app):
    services_of(app).predictions.max_request_rows = 5
    res = predict(client, "iris", {"instances": [[1, 2, 3, 4]] * 6})
    assert res.status_code == 413
    assert "limit of 5 rows" in res.get_json()["message"]


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/v1/models/nope/predict", 404),
        ("/api/v1/models/iris/predict?version=9", 404),
        ("/api/v1/models/iris/predict?version=abc", 400),
        ("/api/v1/models/iris/predict?version=0", 400),
        ("/api/v1/models/Bad%20Name/predict", 400),
    ],
)
def test_unknown_models_versions_and_bad_names(client, iris, path, status):
    res = client.post(path, json={"instances": [[1, 2, 3, 4]]})
    assert res.status_code == status
    assert res.get_json()["message"]


def test_promotion_changes_what_is_served_and_rollback_restores_it(client, iris, registry):
    from tests.conftest import AUTH

    assert predict(client, "iris", {"instances": [[1, 2, 3, 4]]}).get_json()["version"] == 1
    assert client.post("/api/v1/models/iris/versions/2/promote", headers=AUTH).status_code == 200
    assert predict(client, "iris", {"instances": [[1, 2, 3, 4]]}).get_json()["version"] == 2
    assert client.post("/api/v1/models/iris/versions/1/promote", headers=AUTH).status_code == 200
    assert predict(client, "iris", {"instances": [[1, 2, 3, 4]]}).get_json()["version"] == 1


def test_a_model_registered_by_another_process_is_served_at_once(
    client, app, iris_models, tmp_path
):
    from app.core.registry import ArtifactStore, Registry
    from app.db import Database
    from tests.conftest import iris_schema

    registry = services_of(app).registry
    registry.production_versions()  # the cached map is fresh: "flowers" is not in it
    other = Registry(Database(registry.db.url), ArtifactStore(services_of(app).config.MODEL_STORE))
    other.add_estimator("flowers", iris_models["tree"], schema=iris_schema())
    other.db.dispose()
    res = predict(client, "flowers", {"instances": [[1, 2, 3, 4]]})
    assert res.status_code == 200, res.get_json()


def test_a_missing_category_is_imputed_alone_and_in_a_batch(client, registry, mixed_model):
    import pandas as pd

    est, _ = mixed_model
    registry.add_estimator("people", est)
    missing, known = {"age": 30, "city": None}, {"age": 30, "city": "paris"}
    alone = predict(client, "people", {"instances": [missing], "return_proba": True})
    batched = predict(client, "people", {"instances": [known, missing], "return_proba": True})
    assert alone.status_code == 200 and batched.status_code == 200, (
        alone.get_json(),
        batched.get_json(),
    )
    expected = est.predict_proba(
        pd.DataFrame({"age": [30.0], "city": [np.nan]}, dtype=object).astype({"age": "float64"})
    )
    assert alone.get_json()["probabilities"][0] == expected[0].tolist()
    assert batched.get_json()["probabilities"][1] == expected[0].tolist()


def large_rows(X: np.ndarray) -> np.ndarray:
    """Rows enough for a body past jsonrows.PAYS_FROM_BYTES, with values that are
    hard to read back: shifted by tiny amounts, negative zeros, integers."""
    from app.core.jsonrows import PAYS_FROM_BYTES

    rng = np.random.default_rng(7)
    rows = np.resize(X, (2 * PAYS_FROM_BYTES // 40 + 1, X.shape[1])).copy()
    rows += rng.choice([0.0, 1e-15, -3e-9, 0.1], rows.shape)
    rows[::13, 0] = -0.0
    rows[::7, 1] = np.round(rows[::7, 1])
    return rows


def test_a_large_batch_of_array_rows_answers_as_the_same_rows_as_objects(
    client, iris, iris_data, monkeypatch
):
    """Array rows past PAYS_FROM_BYTES are read straight into float64 (app.core.jsonrows);
    the same rows as objects take the orjson path: the answers are the same bits."""
    from app.api import predictions

    read_straight = []
    read = predictions.numeric_rows

    def spy(*args):
        read_straight.append(read(*args))
        return read_straight[-1]

    monkeypatch.setattr(predictions, "numeric_rows", spy)
    X = large_rows(iris_data[0])
    objects = [dict(zip(IRIS_FEATURES, r, strict=True)) for r in X.tolist()]
    answers = [
        predict(
            client, "iris", {"instances": rows, "return_proba": True}, query_string={"version": 2}
        )
        for rows in (X.tolist(), objects)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert len(read_straight) == 2 and read_straight[0] is not None and read_straight[1] is None
    arrays, keyed = (a.get_json() for a in answers)
    assert arrays["predictions"] == keyed["predictions"] == iris["gb"].predict(X).tolist()
    assert np.array(arrays["probabilities"]).tobytes() == np.array(keyed["probabilities"]).tobytes()
    assert np.array_equal(arrays["probabilities"], iris["gb"].predict_proba(X))


@pytest.mark.parametrize(
    "last_row, field, words",
    [
        ([5.1, 3.5, 1.4], "instances[{n}]", "4 values"),
        ([5.1, 3.5, 1.4, [0.2]], "instances[{n}].petal_width", "expected a number"),
        ([5.1, 3.5, 1.4, None], "instances[{n}].petal_width", ""),
        ([5.1, "3.5", 1.4, 0.2], "instances[{n}].sepal_width", "expected a number"),
    ],
)
def test_a_large_batch_with_one_bad_row_is_a_400_naming_it(
    client, iris, iris_data, last_row, field, words
):
    X = large_rows(iris_data[0])
    res = predict(client, "iris", {"instances": X.tolist() + [last_row]})
    assert res.status_code == 400, res.get_json()
    errors = res.get_json()["errors"]
    assert words in errors[field.format(n=len(X))]
