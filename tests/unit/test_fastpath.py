"""The exact fast path's core: every supported family compiles and is proven bitwise
equal to scikit-learn; what is not supported, or differs by one ulp, is refused with a
reason; a stored verdict is re-checked in the process that loads a version."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from app.core.fastpath import engine, verify
from app.core.fastpath.probes import probe_matrix
from app.core.registry import describe_estimator
from app.core.runtime import LoadedModel
from app.core.schema import CompiledSchema, derive_schema
from app.core.training.pipeline import build_pipeline, feature_schema, prepare_features
from tests.conftest import need_c_compiler

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
CANCER_X, CANCER_Y = load_breast_cancer(return_X_y=True)
IRIS_FRAME = pd.DataFrame(IRIS_X, columns=["a", "b", "c", "d"])


def loaded(est, schema=None) -> LoadedModel:
    task, classes = describe_estimator(est)
    doc = schema or derive_schema(est)
    return LoadedModel("m", 1, task, est, CompiledSchema.from_doc(doc), classes)


def mixed_frame(n=300, seed=0):
    """Numeric columns with missing values, categorical ones with missing values and
    a rare category (grouped as infrequent by the training pipeline's encoder)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.uniform(0, 100, n),
            "color": rng.choice(["red", "green", "blue", None], n),
            "size": rng.choice(["s", "m", "l", "xl"], n, p=[0.5, 0.3, 0.19, 0.01]),
        }
    )
    frame.loc[rng.integers(0, n, 30), "x1"] = np.nan
    return frame


MIXED_COLUMNS = [
    {"name": "x1", "type": "numeric"},
    {"name": "x2", "type": "numeric"},
    {"name": "color", "type": "categorical"},
    {"name": "size", "type": "categorical"},
]


def trained(estimator, regression=False):
    """The training endpoint's own pipeline (app.core.training) on mixed_frame."""
    frame = mixed_frame()
    target = frame["x2"].to_numpy() if regression else (frame["x2"] > 50).astype(int).to_numpy()
    pipe = build_pipeline(MIXED_COLUMNS, estimator)
    pipe.fit(prepare_features(frame, MIXED_COLUMNS), target)
    return loaded(pipe, feature_schema(pipe, MIXED_COLUMNS))


def _by_index_with_passthrough():
    """ColumnTransformer by column index on an array: a one-hot encoder of a numeric
    column (unknown values ignored), a scaler, the remainder passed through."""
    X = IRIS_X.copy()
    X[:, 3] = np.round(X[:, 3])
    ct = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), [3]),
            ("scale", MinMaxScaler(), [0, 1]),
        ],
        remainder="passthrough",
    )
    return make_pipeline(ct, LogisticRegression(max_iter=2000)).fit(X, IRIS_Y)


def _by_name_with_infrequent_categories():
    """ColumnTransformer by name on a DataFrame: a constant imputer, infrequent
    categories grouped by min_frequency, numeric columns passed through, then scaled."""
    frame = mixed_frame().dropna(subset=["x1"])
    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="none"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False),
    )
    ct = ColumnTransformer([("cat", encode, ["color", "size"])], remainder="passthrough")
    return make_pipeline(ct, StandardScaler(), Ridge()).fit(frame, frame["x2"] * 2)


FAMILIES = {
    "column-transformer-by-index": _by_index_with_passthrough,
    "column-transformer-by-name": _by_name_with_infrequent_categories,
    "logistic-multinomial": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(
        IRIS_X, IRIS_Y
    ),
    "logistic-binary": lambda: make_pipeline(StandardScaler(), LogisticRegression()).fit(
        CANCER_X, CANCER_Y
    ),
    "logistic-on-a-frame": lambda: LogisticRegression(max_iter=500).fit(IRIS_FRAME, IRIS_Y),
    "ridge-classifier": lambda: RidgeClassifier().fit(IRIS_X, IRIS_Y),
    "ridge-classifier-binary": lambda: make_pipeline(MinMaxScaler(), RidgeClassifier()).fit(
        CANCER_X, CANCER_Y
    ),
    "sgd-classifier": lambda: SGDClassifier(random_state=0).fit(CANCER_X, CANCER_Y),
    "linear-regression": lambda: LinearRegression().fit(IRIS_X[:, :3], IRIS_X[:, 3]),
    "ridge": lambda: make_pipeline(MinMaxScaler(clip=True), Ridge()).fit(
        IRIS_FRAME.iloc[:, :3], IRIS_X[:, 3]
    ),
    "lasso": lambda: Lasso(alpha=0.01).fit(IRIS_X[:, :3], IRIS_X[:, 3]),
    "elastic-net": lambda: ElasticNet(alpha=0.01).fit(IRIS_FRAME.iloc[:, :3], IRIS_X[:, 3]),
    "sgd-regressor": lambda: SGDRegressor(random_state=0).fit(IRIS_X[:, :3], IRIS_X[:, 3]),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_linear_family_is_compiled_and_proven_bitwise(family):
    model = loaded(FAMILIES[family]())
    verdict, compiled = verify.verify(model)
    assert verdict["verified"] is True and verdict["engine"] == "numpy", verdict
    assert compiled is not None
    # and independently of the verifier: the adversarial probe rows, in one batch
    matrix = probe_matrix(model.schema, seed=1)
    expected = model.sklearn_outputs(matrix, model.has_proba)
    got = LoadedModel.compiled_outputs(compiled, matrix, model.has_proba)
    float_output = expected[0].dtype.kind == "f"  # 1e300 rows make inf - inf = NaN in both
    assert got[0].dtype == expected[0].dtype
    assert np.array_equal(got[0], expected[0], equal_nan=float_output)
    if model.has_proba:
        assert got[1].dtype == expected[1].dtype
        assert np.array_equal(got[1], expected[1], equal_nan=True)


@pytest.mark.parametrize(
    "estimator,regression",
    [
        (LogisticRegression(max_iter=1000), False),
        (LogisticRegression(l1_ratio=1.0, solver="saga", max_iter=2000), False),
        (RidgeClassifier(), False),
        (LinearRegression(), True),
        (Ridge(), True),
        (Lasso(alpha=0.1), True),
    ],
    ids=lambda p: type(p).__name__ if not isinstance(p, bool) else "",
)
def test_the_training_endpoints_pipelines_with_categories_and_missing_values_are_proven(
    estimator, regression
):
    model = trained(estimator, regression)
    verdict, compiled = verify.verify(model)
    assert verdict["verified"] is True, verdict
    rows = [
        {"x1": None, "x2": 1e300, "color": None, "size": "xl"},  # missing; infrequent
        {"x1": -0.0, "x2": -1e-300, "color": "purple", "size": "xxl"},  # unseen
        {"x1": 0.0, "x2": 50.0, "color": "red", "size": "s"},
    ]
    matrix, _ = model.schema.rows_to_matrix(rows, 10)
    expected = model.sklearn_outputs(matrix, model.has_proba)
    got = LoadedModel.compiled_outputs(compiled, matrix, model.has_proba)
    assert np.array_equal(got[0], expected[0], equal_nan=regression)
    if model.has_proba:
        assert np.array_equal(got[1], expected[1], equal_nan=True)


class _SubclassedLogistic(LogisticRegression):
    pass


def _sparse_encoder_pipeline():
    frame = mixed_frame().fillna({"color": "red"})
    ct = ColumnTransformer([("cat", OneHotEncoder(), ["color"])], sparse_threshold=1.0)
    return make_pipeline(ct, LogisticRegression()).fit(frame[["color"]], frame["x2"] > 50)


@pytest.mark.parametrize(
    "build,reason",
    [
        (
            lambda: KNeighborsClassifier(n_neighbors=3).fit(IRIS_X, IRIS_Y),
            "no compiled form for KNeighborsClassifier",
        ),
        (
            lambda: _SubclassedLogistic(max_iter=1000).fit(IRIS_X, IRIS_Y),
            "no compiled form for _SubclassedLogistic",
        ),
        (
            lambda: make_pipeline(OrdinalEncoder(), LogisticRegression(max_iter=2000)).fit(
                IRIS_X, IRIS_Y
            ),
            "no compiled form for the transformer OrdinalEncoder",
        ),
        (
            lambda: make_pipeline(SimpleImputer(add_indicator=True), LogisticRegression()).fit(
                np.where(IRIS_X > 6, np.nan, IRIS_X), IRIS_Y
            ),
            "add_indicator",
        ),
        (_sparse_encoder_pipeline, "sparse"),
        (
            lambda: LinearRegression().fit(IRIS_X[:, :2], IRIS_X[:, 2:]),
            "several outputs",
        ),
    ],
)
def test_what_is_not_compiled_keeps_scikit_learn_with_the_reason(build, reason):
    est = build()
    try:
        model = loaded(est)
    except Exception:  # a schema the estimator cannot derive: give one
        model = loaded(
            est,
            {
                "features": [
                    {"name": "color", "type": "categorical", "categories": ["blue", "green", "red"]}
                ]
            },
        )
    verdict, compiled = verify.verify(model)
    assert compiled is None
    assert verdict == {"engine": "sklearn", "verified": False, "reason": verdict["reason"]}
    assert reason in verdict["reason"]


def test_libraries_outside_the_tested_range_keep_scikit_learn(monkeypatch):
    monkeypatch.setattr(
        verify, "library_versions", lambda: {"numpy": "2.4.6", "scikit-learn": "1.10.0"}
    )
    verdict, compiled = verify.verify(loaded(FAMILIES["ridge"]()))
    assert (
        compiled is None and "scikit-learn 1.10.0 is outside the tested range" in verdict["reason"]
    )


def test_a_one_ulp_difference_is_found_and_refused(monkeypatch):
    from app.core.fastpath import linear

    exact = linear.LinearRegressor.predict

    def off_by_one_ulp(self, X):
        out = exact(self, X)
        return np.where(np.arange(len(out)) == len(out) - 1, np.nextafter(out, np.inf), out)

    monkeypatch.setattr(linear.LinearRegressor, "predict", off_by_one_ulp)
    verdict, compiled = verify.verify(loaded(FAMILIES["linear-regression"]()))
    assert compiled is None
    assert re.fullmatch(
        r"predictions differ from scikit-learn's on 1 of (\d+) rows \(a batch of \1\)",
        verdict["reason"],
    ), verdict


def test_a_changed_probability_is_found_and_refused(monkeypatch):
    from app.core.fastpath import linear

    exact = linear.LinearClassifier.predict_proba
    monkeypatch.setattr(
        linear.LinearClassifier, "predict_proba", lambda self, X: exact(self, X).astype(np.float32)
    )
    verdict, _ = verify.verify(loaded(FAMILIES["logistic-binary"]()))
    assert verdict["verified"] is False and "probabilities: dtype float32" in verdict["reason"]


def test_a_stored_verdict_is_rechecked_where_the_version_loads():
    model = loaded(FAMILIES["logistic-multinomial"]())
    stored = engine.registration_verdict(model, "abc")
    assert stored["verified"] and stored["libraries"] == verify.library_versions()
    engine.select_engine(model, stored, "abc", enabled=True)
    assert model.compiled is not None and model.engine == "numpy"
    assert model.runtime == engine.public(stored)

    engine.select_engine(model, stored, "abc", enabled=False)
    assert model.compiled is None and model.engine == "sklearn"
    assert model.runtime["reason"].startswith("FAST_PATH=off")

    refused = {**stored, "engine": "sklearn", "verified": False, "reason": "refused earlier"}
    engine.select_engine(model, refused, "abc", enabled=True)
    assert model.compiled is None and model.runtime["reason"] == "refused earlier"

    # another artifact or other libraries than the verdict's: proven again here
    engine.select_engine(model, refused, "other-sha", enabled=True)
    assert model.compiled is not None and model.runtime["verified"] is True


def test_a_compiled_predictor_that_fails_leaves_the_answer_to_scikit_learn():
    model = loaded(FAMILIES["logistic-multinomial"]())
    engine.select_engine(model, None, "abc", enabled=True)
    seen = []
    model.on_engine = lambda name, version, eng, rows: seen.append((eng, rows))
    matrix = IRIS_X[:5]
    assert model.predict(matrix, True)["predictions"] == IRIS_Y[:5].tolist()

    class Broken:
        engine = "numpy"

        def predict(self, matrix):
            raise RuntimeError("boom")

        predict_both = predict

    model.compiled = Broken()
    out = model.predict(matrix, True)
    assert out["predictions"] == model.estimator.predict(matrix).tolist()
    assert seen == [("numpy", 5), ("sklearn", 5)]


def test_a_stage_of_another_engine_is_proven_at_the_first_prediction_not_in_the_master(
    monkeypatch,
):
    """gunicorn's master may compile but must not run an onnxruntime session: such a
    stage waits for the first prediction in the (forked) worker to be probed."""
    model = loaded(FAMILIES["logistic-binary"]())
    numpy_stage = verify.compile_for(model)
    numpy_stage.final.engine = numpy_stage.engine = "onnxruntime"  # as the tree compiler's
    probed = []
    real_probe = engine.probe

    def counting_probe(*args):
        probed.append(args[2])
        return real_probe(*args)

    monkeypatch.setattr(engine, "compile_for", lambda m: numpy_stage)
    monkeypatch.setattr(engine, "probe", counting_probe)
    stored = {**engine.registration_verdict(model, "abc"), "engine": "onnxruntime"}
    engine.select_engine(model, stored, "abc", enabled=True, probe_now=False)
    assert probed == [] and model.compiled is None and model.candidate is numpy_stage
    model.warm_up()  # the master's warm-up: scikit-learn only
    assert probed == []

    out = model.predict(CANCER_X[:2], True)
    assert probed == [verify.SHORT_BATCH_SIZES] and model.engine == "onnxruntime"
    assert out["probabilities"] == model.estimator.predict_proba(CANCER_X[:2]).tolist()
    model.predict(CANCER_X[:2])
    assert len(probed) == 1  # once per process


def test_a_verdict_proven_on_another_engine_is_proven_again_in_full_and_superseded(
    monkeypatch,
):
    """A tree version registered where its trees ran on onnxruntime (no C compiler, or
    before the C engine) and loaded where they compile to C: the stored verdict does not
    vouch for the new engine, so it is probed in full, and the verdict to store names
    the engine that serves; the same engine again needs only the short re-check."""
    from sklearn.ensemble import RandomForestClassifier

    need_c_compiler()
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(CANCER_X, CANCER_Y)
    monkeypatch.setenv("FAST_PATH_NATIVE", "off")
    stored = engine.registration_verdict(loaded(forest), "abc")
    assert stored["engine"] == "onnxruntime" and stored["verified"] is True
    monkeypatch.delenv("FAST_PATH_NATIVE")
    probed = []
    real_probe = engine.probe

    def counting_probe(*args):
        probed.append(args[2])
        return real_probe(*args)

    monkeypatch.setattr(engine, "probe", counting_probe)
    model = loaded(forest)
    engine.select_engine(model, stored, "abc", enabled=True)
    assert probed == [verify.BATCH_SIZES]
    assert model.engine == "native" and model.runtime["verified"] is True
    record = engine.backfill(model, stored, "abc")
    assert record is not None and record["engine"] == "native"
    assert record["artifact_sha256"] == "abc" and record["libraries"] == stored["libraries"]

    again = loaded(forest)
    engine.select_engine(again, record, "abc", enabled=True)
    assert probed[1:] == [verify.SHORT_BATCH_SIZES] and again.engine == "native"
    assert engine.backfill(again, record, "abc") is None


def test_rows_scikit_learn_refuses_must_be_refused_by_the_compiled_predictor_too(monkeypatch):
    model = loaded(FAMILIES["ridge"]())

    def refuses(matrix, proba):
        raise ValueError("Input contains NaN")

    monkeypatch.setattr(model, "sklearn_outputs", refuses)
    verdict, compiled = verify.verify(model)
    assert compiled is None
    assert verdict["reason"].startswith(
        "scikit-learn refuses rows that the compiled predictor answers (ValueError: Input contains NaN)"
    )


def test_a_pipeline_whose_encoder_refuses_unknown_categories_is_proven(mixed_model):
    est, _frame = mixed_model  # OneHotEncoder(handle_unknown="error"): the schema refuses them
    model = loaded(est)
    verdict, compiled = verify.verify(model)
    assert verdict["verified"] is True, verdict
    matrix, _ = model.schema.rows_to_matrix([{"age": None, "city": "nice"}], 1)
    assert np.array_equal(compiled.predict_both(matrix)[1], model.sklearn_outputs(matrix, True)[1])
