"""The exact fast path through the HTTP API, on SQLite and PostgreSQL: versions of
every linear and tree family (uploaded, and trained by the training endpoint on data
with categorical columns and missing values) say which engine serves them, and answer
exactly what scikit-learn answers on adversarial rows; unsupported models and
FAST_PATH=off serve with scikit-learn and say why; the metrics count rows by engine."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import Lasso, LogisticRegression, Ridge, RidgeClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from app import create_app
from app.config import TestingConfig
from app.services import services_of
from tests.api.test_models import upload
from tests.api.test_training import people_csv, train
from tests.api.test_training import upload as upload_dataset
from tests.api.test_training import worker as worker  # noqa: F401 - the fixture
from tests.conftest import IRIS_FEATURES, need_c_compiler

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
CANCER_X, CANCER_Y = load_breast_cancer(return_X_y=True)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)
EDGES = (0.0, -0.0, 1e-300, -1e15, 1e15, 1e300, -1e300)


def adversarial(X: np.ndarray, n_random: int = 40) -> np.ndarray:
    """The training rows' extremes, signed zeros and huge magnitudes in each column,
    and rows drawn uniformly over the training range."""
    rng = np.random.default_rng(0)
    base = np.median(X, axis=0)
    rows = [X.min(axis=0), X.max(axis=0), base]
    for j in range(X.shape[1]):
        for value in EDGES:
            row = base.copy()
            row[j] = value
            rows.append(row)
    rows += list(rng.uniform(X.min(axis=0), X.max(axis=0), (n_random, X.shape[1])))
    return np.array(rows)


def as_served(values) -> list:
    """What the API sends for an array: non-finite numbers as null."""
    out = []
    for v in np.asarray(values).tolist():
        if isinstance(v, list):
            out.append([None if isinstance(x, float) and not math.isfinite(x) else x for x in v])
        else:
            out.append(None if isinstance(v, float) and not math.isfinite(v) else v)
    return out


def engine_rows(client, model: str, engine: str) -> float:
    text = client.get("/metrics").data.decode()
    labels = f'engine="{engine}",model="{model}",version="1"'
    m = re.search(r"mlstack_engine_rows_total\{" + re.escape(labels) + r"\} (\S+)", text)
    return float(m.group(1)) if m else 0.0


UPLOADS = {
    "logit-multi": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(
        IRIS_X, IRIS_Y
    ),
    "logit-binary": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(
        CANCER_X, CANCER_Y
    ),
    "ridge-classifier": lambda: make_pipeline(MinMaxScaler(), RidgeClassifier()).fit(
        IRIS_X, IRIS_Y
    ),
    "ridge": lambda: Ridge(alpha=0.1).fit(DIABETES_X, DIABETES_Y),
    "lasso-frame": lambda: Lasso(alpha=0.01).fit(
        pd.DataFrame(IRIS_X[:, :3], columns=IRIS_FEATURES[:3]), IRIS_X[:, 3]
    ),
}
TRAIN_X = {
    "logit-multi": IRIS_X,
    "logit-binary": CANCER_X,
    "ridge-classifier": IRIS_X,
    "ridge": DIABETES_X,
    "lasso-frame": IRIS_X[:, :3],
}


@pytest.mark.parametrize("name", sorted(UPLOADS))
def test_uploaded_linear_versions_are_served_by_numpy_bit_for_bit(client, name):
    est = UPLOADS[name]()
    res = upload(client, name, sio.dumps(est))
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["runtime"]["engine"] == "numpy"
    runtime = client.get(f"/api/v1/models/{name}/versions/1").get_json()["runtime"]
    assert runtime["engine"] == "numpy" and runtime["verified"] is True
    assert runtime["reason"].startswith("bitwise equal to scikit-learn on ")

    X = adversarial(TRAIN_X[name])
    proba = hasattr(est, "predict_proba")
    before = engine_rows(client, name, "numpy")
    for rows in (X[:1], X[:3], X, np.tile(X, (1000 // len(X) + 1, 1))[:1000]):
        body = {"instances": rows.tolist(), "return_proba": proba}
        res = client.post(f"/api/v1/models/{name}/predict", json=body)
        assert res.status_code == 200, res.get_json()
        out = res.get_json()
        part = pd.DataFrame(rows, columns=IRIS_FEATURES[:3]) if name == "lasso-frame" else rows
        assert out["predictions"] == as_served(est.predict(part))
        if proba:
            assert out["probabilities"] == as_served(est.predict_proba(part))
    assert engine_rows(client, name, "numpy") - before == 1 + 3 + len(X) + 1000


TREE_UPLOADS = {
    "tree-classifier": (lambda: DecisionTreeClassifier(random_state=0), "multi"),
    "forest-classifier": (lambda: RandomForestClassifier(20, random_state=0), "binary"),
    "extra-trees-regressor": (lambda: ExtraTreesRegressor(10, random_state=0), "regression"),
    "boosting-multi": (lambda: GradientBoostingClassifier(n_estimators=20), "multi"),
    "boosting-binary": (lambda: GradientBoostingClassifier(n_estimators=20), "binary"),
    "boosting-regressor": (lambda: GradientBoostingRegressor(n_estimators=20), "regression"),
    "hist-boosting": (lambda: HistGradientBoostingClassifier(max_iter=20), "multi"),
}
TREE_DATA = {
    "multi": (IRIS_X, IRIS_Y),
    "binary": (CANCER_X, CANCER_Y),
    "regression": (DIABETES_X, DIABETES_Y),
}


@pytest.mark.parametrize("name", sorted(TREE_UPLOADS))
def test_uploaded_tree_versions_are_served_compiled_bit_for_bit(client, name):
    """Trees whose rows scikit-learn casts to float32 run compiled to C; a
    HistGradientBoosting (float64 rows) on onnxruntime."""
    need_c_compiler()
    make, data = TREE_UPLOADS[name]
    X_train, y = TREE_DATA[data]
    est = make().fit(X_train, y)
    expected = "onnxruntime" if name == "hist-boosting" else "native"
    res = upload(client, name, sio.dumps(est))
    assert res.status_code == 201, res.get_json()
    runtime = client.get(f"/api/v1/models/{name}/versions/1").get_json()["runtime"]
    assert runtime["engine"] == expected and runtime["verified"] is True, runtime

    X = adversarial(X_train)
    proba = hasattr(est, "predict_proba")
    before = engine_rows(client, name, expected)
    for rows in (X[:1], X[:3], X, np.tile(X, (3000 // len(X) + 1, 1))[:3000]):
        body = {"instances": rows.tolist(), "return_proba": proba}
        res = client.post(f"/api/v1/models/{name}/predict", json=body)
        assert res.status_code == 200, res.get_json()
        out = res.get_json()
        # 1e300 becomes float32's infinity, answered as served (without the finite check)
        with np.errstate(over="ignore"), sklearn.config_context(assume_finite=True):
            assert out["predictions"] == as_served(est.predict(rows))
            if proba:
                assert out["probabilities"] == as_served(est.predict_proba(rows))
    served = engine_rows(client, name, expected) - before
    sklearn_rows = 3000 if served == 1 + 3 + len(X) else 0  # above a measured limit
    assert served + sklearn_rows == 1 + 3 + len(X) + 3000


def test_trained_pipelines_with_categories_and_missing_values_are_served_bit_for_bit(
    client, worker
):
    need_c_compiler()
    res = upload_dataset(client, people_csv(120), target="label", name="people.csv")
    assert res.status_code == 201, res.get_json()
    dataset = res.get_json()["id"]
    rows = [
        {"age": 30, "city": "paris", "income": 1500},
        {"age": -0.0, "city": None, "income": None},  # missing: imputed
        {"age": 1e300, "city": "berlin", "income": -1e300},  # unseen city
        {"age": 45, "city": "lille", "income": 0.0},
        {"age": 1e-300, "city": "", "income": 1e15},
    ]
    frame = pd.DataFrame(
        {
            "age": [float(r["age"]) for r in rows],
            "city": pd.Series(
                [r["city"] if r["city"] is not None else np.nan for r in rows], dtype=object
            ),
            "income": [np.nan if r["income"] is None else float(r["income"]) for r in rows],
        }
    )
    engines = {
        "linear": "numpy",
        "ridge": "numpy",
        "lasso": "numpy",
        "decision_tree": "native",
        "random_forest": "native",
        "gradient_boosting": "native",
    }
    for algorithm, engine in engines.items():
        name = f"people-{algorithm}".replace("_", "-")
        res = train(client, name, dataset=dataset, algorithm=algorithm, cv_folds=2)
        assert res.status_code == 202, res.get_json()
        assert worker.run_one()
        job = client.get(res.get_json()["url"]).get_json()
        assert job["status"] == "succeeded", job
        runtime = client.get(f"/api/v1/models/{name}/versions/1").get_json()["runtime"]
        assert runtime["engine"] == engine and runtime["verified"], (algorithm, runtime)

        loaded = services_of(client.application).registry.resolve(name)
        assert loaded.engine == engine
        est = loaded.estimator  # the stored artifact, predicted with by scikit-learn here
        proba = hasattr(est, "predict_proba")
        res = client.post(
            f"/api/v1/models/{name}/predict", json={"instances": rows, "return_proba": proba}
        )
        assert res.status_code == 200, res.get_json()
        out = res.get_json()
        columns = [f["name"] for f in loaded.schema.features]
        # 1e300 becomes float32's infinity in a tree, answered as served
        with np.errstate(over="ignore"), sklearn.config_context(assume_finite=True):
            assert out["predictions"] == as_served(est.predict(frame[columns]))
            if proba:
                assert out["probabilities"] == as_served(est.predict_proba(frame[columns]))


def test_unsupported_models_are_served_by_scikit_learn_with_the_reason(client):
    from sklearn.neighbors import KNeighborsClassifier

    est = KNeighborsClassifier(n_neighbors=3).fit(IRIS_X, IRIS_Y)
    assert upload(client, "knn", sio.dumps(est)).status_code == 201
    runtime = client.get("/api/v1/models/knn/versions/1").get_json()["runtime"]
    assert runtime == {
        "engine": "sklearn",
        "verified": False,
        "reason": "no compiled form for KNeighborsClassifier",
    }
    before = engine_rows(client, "knn", "sklearn")
    res = client.post("/api/v1/models/knn/predict", json={"instances": IRIS_X[:4].tolist()})
    assert res.get_json()["predictions"] == est.predict(IRIS_X[:4]).tolist()
    assert engine_rows(client, "knn", "sklearn") - before == 4


def test_the_demo_tree_models_are_proven_compiled_to_c(client, iris):
    need_c_compiler()
    shown = client.get("/api/v1/models/iris").get_json()
    assert [v["runtime"]["engine"] for v in shown["versions"]] == ["native"] * 2
    assert all(v["runtime"]["verified"] for v in shown["versions"])
    before = engine_rows(client, "iris", "native")
    res = client.post(
        "/api/v1/models/iris/predict",
        json={"instances": IRIS_X[:4].tolist(), "return_proba": True},
    )
    body = res.get_json()
    assert body["predictions"] == iris["tree"].predict(IRIS_X[:4]).tolist()
    assert body["probabilities"] == iris["tree"].predict_proba(IRIS_X[:4]).tolist()
    assert engine_rows(client, "iris", "native") - before == 4


@pytest.fixture
def slow_app(tmp_path, database_url):
    app = create_app(
        TestingConfig(var_dir=tmp_path / "var", DATABASE_URL=database_url, FAST_PATH=False)
    )
    services_of(app).db.upgrade()
    yield app
    services_of(app).db.dispose()


def test_fast_path_off_serves_every_version_with_scikit_learn(slow_app):
    client = slow_app.test_client()
    est = UPLOADS["logit-multi"]()
    assert upload(client, "offpath", sio.dumps(est)).status_code == 201
    runtime = client.get("/api/v1/models/offpath/versions/1").get_json()["runtime"]
    assert runtime == {
        "engine": "sklearn",
        "verified": False,
        "reason": "FAST_PATH=off: scikit-learn serves every version",
    }
    before = engine_rows(client, "offpath", "sklearn")
    res = client.post(
        "/api/v1/models/offpath/predict",
        json={"instances": IRIS_X[:5].tolist(), "return_proba": True},
    )
    assert res.get_json()["probabilities"] == est.predict_proba(IRIS_X[:5]).tolist()
    assert engine_rows(client, "offpath", "sklearn") - before == 5
    assert services_of(slow_app).registry.resolve("offpath").engine == "sklearn"


def test_a_version_registered_before_the_fast_path_is_proven_where_it_loads(client, app):
    from sqlalchemy import update

    from app.db.models import ModelVersion

    est = UPLOADS["logit-multi"]()
    assert upload(client, "older", sio.dumps(est)).status_code == 201
    services = services_of(app)
    with services.db.session() as s:  # as migration 0003 leaves the versions before it
        s.execute(update(ModelVersion).values(runtime=None))
    services.registry.cache.clear()
    shown = client.get("/api/v1/models/older/versions/1").get_json()["runtime"]
    assert shown == {
        "engine": "sklearn",
        "verified": False,
        "reason": "registered before the fast path: not verified",
    }

    res = client.post("/api/v1/models/older/predict", json={"instances": IRIS_X[:3].tolist()})
    assert res.get_json()["predictions"] == est.predict(IRIS_X[:3]).tolist()
    assert services.registry.resolve("older").engine == "numpy"
    shown = client.get("/api/v1/models/older/versions/1").get_json()["runtime"]
    assert shown["engine"] == "numpy" and shown["verified"] is True


def test_a_tree_version_proven_on_onnxruntime_is_proven_again_where_it_compiles_to_c(
    client, app, monkeypatch
):
    """Registered where its trees could not be compiled (FAST_PATH_NATIVE=off here, no
    compiler in a container): onnxruntime's verdict is stored. Loaded where they can,
    the trees are proven in full on the new engine, which serves, and the stored
    verdict (what the API shows) names it."""
    need_c_compiler()
    est = RandomForestClassifier(10, random_state=0).fit(IRIS_X, IRIS_Y)
    monkeypatch.setenv("FAST_PATH_NATIVE", "off")
    assert upload(client, "moved", sio.dumps(est)).status_code == 201
    shown = client.get("/api/v1/models/moved/versions/1").get_json()["runtime"]
    assert shown["engine"] == "onnxruntime" and shown["verified"] is True

    monkeypatch.delenv("FAST_PATH_NATIVE")
    services = services_of(app)
    services.registry.cache.clear()
    res = client.post("/api/v1/models/moved/predict", json={"instances": IRIS_X[:3].tolist()})
    assert res.get_json()["predictions"] == est.predict(IRIS_X[:3]).tolist()
    assert services.registry.resolve("moved").engine == "native"
    shown = client.get("/api/v1/models/moved/versions/1").get_json()["runtime"]
    assert shown["engine"] == "native" and shown["verified"] is True
    assert shown["reason"].startswith("bitwise equal to scikit-learn on ")


def test_the_v2_protocol_is_answered_by_the_same_compiled_predictor(client):
    est = UPLOADS["logit-binary"]()
    assert upload(client, "v2fast", sio.dumps(est)).status_code == 201
    X = adversarial(CANCER_X, n_random=5)[:30]
    tensor = {"name": "input-0", "datatype": "FP64", "shape": list(X.shape)}
    body = {
        "inputs": [{**tensor, "data": X.ravel().tolist()}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    before = engine_rows(client, "v2fast", "numpy")
    res = client.post("/v2/models/v2fast/infer", json=body)
    assert res.status_code == 200, res.get_json()
    labels, proba = res.get_json()["outputs"]
    assert labels["data"] == est.predict(X).tolist()
    assert proba["data"] == as_served(est.predict_proba(X).ravel())
    assert engine_rows(client, "v2fast", "numpy") - before == len(X)
