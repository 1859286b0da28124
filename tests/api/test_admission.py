"""Registration checks over HTTP (SQLite and PostgreSQL): multi-output and failing
uploads are refused with a 400 naming the reason; `nullable` is what the probe proves;
every model kind answers a row with missing values the same alone, in a batch and
concurrently."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.core.schema import derive_schema
from app.core.training import ALGORITHMS, build_pipeline, feature_schema
from app.core.training.algorithms import make_estimator
from app.db.models import ModelVersion
from app.services import services_of
from tests.api.test_models import upload


@pytest.fixture(scope="module")
def scaled_logistic():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, (X[:, 0] > 0).astype(int))


def predict(client, name, instances, proba=False):
    return client.post(
        f"/api/v1/models/{name}/predict", json={"instances": instances, "return_proba": proba}
    )


def test_an_uploaded_scaler_and_logistic_regression_refuses_null_naming_the_feature(
    client, scaled_logistic
):
    res = upload(client, "scaled", sio.dumps(scaled_logistic))
    assert res.status_code == 201, res.json
    assert [f["nullable"] for f in res.json["schema"]["features"]] == [False] * 3
    assert res.json["schema"]["nullable_probe"]["refuted"] == ["x0", "x1", "x2"]
    res = predict(client, "scaled", [[None, 0.0, 0.0]])
    assert res.status_code == 400
    assert res.json["errors"] == {"instances[0].x0": "missing value: this feature is required"}


def test_an_uploaded_schema_claiming_nullable_is_overruled_by_the_probe(client, scaled_logistic):
    schema = {
        "features": [{"name": f"x{i}", "type": "numeric", "nullable": True} for i in range(3)]
    }
    res = upload(client, "claimed", sio.dumps(scaled_logistic), schema=schema)
    assert res.status_code == 201, res.json
    assert res.json["schema"]["nullable_probe"]["refuted"] == ["x0", "x1", "x2"]
    assert predict(client, "claimed", [[0.0, None, 0.0]]).status_code == 400


def test_a_multi_output_upload_gets_400_naming_the_reason(client):
    X = np.arange(40, dtype=float).reshape(20, 2)
    res = upload(client, "multi", sio.dumps(Ridge().fit(X, np.c_[X[:, 0], X[:, 1]])))
    assert res.status_code == 400
    assert "multi-output" in res.json["message"]


def test_an_upload_that_raises_on_its_example_row_gets_400(client):
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"c": ["x", "y", "x", "y"]})
    est = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["c"])), LogisticRegression()
    ).fit(frame, [0, 1, 0, 1])
    schema = {"features": [{"name": "c", "type": "categorical", "categories": ["rome", "x"]}]}
    res = upload(client, "raising", sio.dumps(est), schema=schema)
    assert res.status_code == 400
    assert "raises on its own example row (predict)" in res.json["message"]
    assert client.get("/api/v1/models/raising").status_code == 404


def test_a_version_registered_before_the_probe_is_probed_when_loaded(app, client, scaled_logistic):
    registry = services_of(app).registry
    registry.add_estimator("legacy", scaled_logistic)
    with services_of(app).db.session() as s:  # the schema as it was stored before the probe
        row = s.query(ModelVersion).one()
        row.feature_schema = derive_schema(scaled_logistic)
    registry.cache.clear()
    assert predict(client, "legacy", [[None, 0.0, 0.0]]).status_code == 400
    stored = client.get("/api/v1/models/legacy/versions/1").json["schema"]
    assert stored["nullable_probe"]["refuted"] == ["x0", "x1", "x2"]


def training_frame(n=60):
    rng = np.random.default_rng(2)
    num = rng.normal(size=n)
    num[::7] = np.nan
    cat = rng.choice(["a", "b", "c"], n).astype(object)
    cat[::5] = None
    frame = pd.DataFrame({"num": num, "cat": cat})
    return frame, num


def trained_kinds():
    return [(algo, task) for algo in ALGORITHMS for task in ALGORITHMS[algo].estimators]


ROWS = [
    {"num": None, "cat": "a"},
    {"num": 0.5, "cat": None},
    {"num": None, "cat": None},
    {"num": -1.0, "cat": "b"},
]


def test_every_trained_kind_answers_missing_values_the_same_alone_batched_and_concurrently(
    app, client
):
    from app.core.datasets.profile import profile_columns

    frame, num = training_frame()
    columns = profile_columns(frame)
    targets = {
        "classification": np.where(np.nan_to_num(num) > 0, "yes", "no"),
        "regression": np.nan_to_num(num) * 3.0 + 1.0,
    }
    registry = services_of(app).registry
    kinds = trained_kinds()
    assert len(kinds) >= 10
    for algo, task in kinds:
        pipeline = build_pipeline(columns, make_estimator(algo, task, random_state=0))
        pipeline.fit(frame, targets[task])
        name = f"{algo.replace('_', '-')}-{task[:5]}"
        registry.add_estimator(name, pipeline, schema=feature_schema(pipeline, columns))
        proba = task == "classification" and hasattr(pipeline, "predict_proba")
        assert_same_alone_batched_and_concurrently(app, client, name, ROWS, proba)


def assert_same_alone_batched_and_concurrently(app, client, name, rows, proba):
    alone = [predict(client, name, [row], proba).json for row in rows]
    batch = predict(client, name, rows, proba).json
    assert "predictions" in batch, (name, batch)
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(
            pool.map(lambda row: predict(app.test_client(), name, [row], proba).json, rows * 3)
        )
    for i, answer in enumerate(alone):
        assert answer["predictions"][0] == batch["predictions"][i], (name, i)
        for other in concurrent[i :: len(rows)]:
            assert other["predictions"] == answer["predictions"], (name, i)
        if proba:
            np.testing.assert_allclose(
                answer["probabilities"][0], batch["probabilities"][i], rtol=1e-12, err_msg=name
            )


def test_uploaded_models_answer_missing_values_the_same_alone_batched_and_concurrently(
    app, client, mixed_model
):
    from sklearn.ensemble import HistGradientBoostingRegressor

    registry = services_of(app).registry
    registry.add_estimator("mixed", mixed_model[0])
    mixed_rows = [
        {"age": None, "city": "paris"},
        {"age": 50.0, "city": None},
        {"age": None, "city": None},
        {"age": 30.0, "city": "nice"},
    ]
    assert_same_alone_batched_and_concurrently(app, client, "mixed", mixed_rows, True)
    frame, num = training_frame()
    X = np.c_[num, np.nan_to_num(num) * 2]
    registry.add_estimator("hgb", HistGradientBoostingRegressor(max_iter=10).fit(X, X[:, 1]))
    hgb_rows = [[None, 1.0], [0.5, None], [None, None], [0.1, 0.2]]
    assert_same_alone_batched_and_concurrently(app, client, "hgb", hgb_rows, False)
