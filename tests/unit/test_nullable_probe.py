"""The nullable probe and the admission checks, on the core alone (no Flask)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from app.core.admission import PROBE_KEY, admit, is_probed, probe_nullable
from app.core.errors import InvalidInput
from app.core.schema import derive_schema


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


def nullable_of(schema):
    return [f["nullable"] for f in schema["features"]]


def test_a_scaler_passing_nan_to_a_linear_model_is_not_nullable(data):
    X, y = data
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    derived = derive_schema(est)
    assert all(nullable_of(derived))  # the old guess: the scaler allows NaN
    admitted = admit(est, derived)
    assert nullable_of(admitted) == [False, False, False]
    assert admitted[PROBE_KEY] == {"version": 1, "refuted": ["x0", "x1", "x2"]}


def test_an_imputer_first_makes_every_feature_nullable(data):
    X, y = data
    est = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y)
    admitted = admit(est, derive_schema(est))
    assert nullable_of(admitted) == [True, True, True]
    assert admitted[PROBE_KEY]["refuted"] == []


def test_a_model_with_native_missing_value_support_is_nullable(data):
    X, y = data
    est = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    assert nullable_of(admit(est, derive_schema(est))) == [True, True, True]


def test_the_probe_never_adds_nullable_the_schema_did_not_claim(data):
    X, y = data
    est = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    schema = {
        "features": [{"name": f"x{i}", "type": "numeric", "nullable": i == 1} for i in range(3)]
    }
    assert nullable_of(admit(est, schema)) == [False, True, False]


def test_a_categorical_column_is_probed_with_scikit_learns_missing_marker(mixed_model):
    est, _frame = mixed_model  # imputers before the scaler and the encoder
    admitted = admit(est, derive_schema(est))
    assert nullable_of(admitted) == [True, True]


def test_an_encoder_without_imputer_refuses_a_missing_category():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "y"]})
    ct = make_column_transformer(
        (SimpleImputer(), ["a"]), (OneHotEncoder(handle_unknown="ignore"), ["c"])
    )
    est = make_pipeline(ct, LogisticRegression()).fit(frame, [0, 1, 0, 1])
    schema = {
        "features": [
            {"name": "a", "type": "numeric", "nullable": True},
            {
                "name": "c",
                "type": "categorical",
                "categories": ["x", "y"],
                "allow_unknown": True,
                "nullable": True,
            },
        ]
    }
    # handle_unknown="ignore" encodes NaN as all zeros: accepted and finite, so nullable
    assert nullable_of(admit(est, schema)) == [True, True]


def test_legacy_schemas_have_no_marker_and_probed_ones_do(data):
    X, y = data
    est = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    legacy = derive_schema(est)
    assert not is_probed(legacy)
    probed = probe_nullable(est, legacy)
    assert is_probed(probed)
    assert nullable_of(probed) == [False, False, False]


def test_the_probe_checks_regressors_answer_finitely(data):
    X, _y = data
    est = make_pipeline(StandardScaler(), LinearRegression()).fit(X, X[:, 0] * 2)
    assert nullable_of(admit(est, derive_schema(est))) == [False, False, False]


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: Ridge().fit(X, np.c_[y, y]),
        lambda X, y: RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.c_[y, 1 - y]),
        lambda X, y: MultiOutputClassifier(LogisticRegression()).fit(X, np.c_[y, 1 - y]),
    ],
    ids=["ridge-2d", "forest-2d", "multioutput-classifier"],
)
def test_multi_output_estimators_are_refused_naming_the_reason(data, make):
    X, y = data
    est = make(X, y)
    with pytest.raises(InvalidInput, match="multi-output"):
        admit(est, derive_schema(est))


def test_an_estimator_that_raises_on_its_example_row_is_refused(data):
    X, y = data
    est = LogisticRegression().fit(X, y)
    schema = derive_schema(est)
    schema["features"][0]["example"] = float("nan")  # the schema's own row is invalid
    with pytest.raises(InvalidInput, match="example row"):
        admit(est, schema)


def test_a_model_that_raises_on_its_own_example_row_is_refused():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"c": ["x", "y", "x", "y"]})
    est = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="error"), ["c"])),
        LogisticRegression(),
    ).fit(frame, [0, 1, 0, 1])
    schema = {"features": [{"name": "c", "type": "categorical", "categories": ["rome", "x"]}]}
    with pytest.raises(InvalidInput, match=r"raises on its own example row \(predict\)"):
        admit(est, schema)


def test_the_probe_asks_a_model_that_takes_missing_values_once_for_all_columns(data):
    X, y = data
    est = HistGradientBoostingClassifier(max_iter=5).fit(X, y)
    calls = []
    predict = est.predict
    est.predict = lambda X: calls.append(len(X)) or predict(X)
    probed = probe_nullable(est, derive_schema(est))
    assert nullable_of(probed) == [True, True, True]
    assert calls == [3]  # one call, one row per column


def test_one_refused_column_does_not_condemn_the_others():
    from sklearn.compose import make_column_transformer

    X = np.arange(40, dtype=float).reshape(20, 2)
    ct = make_column_transformer((SimpleImputer(), [0]), ("passthrough", [1]))
    est = make_pipeline(ct, LogisticRegression()).fit(X, [0, 1] * 10)
    schema = {"features": [{"name": n, "type": "numeric", "nullable": True} for n in ("a", "b")]}
    assert nullable_of(probe_nullable(est, schema)) == [True, False]
