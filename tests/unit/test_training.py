"""app.core.training and app.core.datasets: bundled datasets, CSV reading, spec
validation, pipelines, metrics. No Flask, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.core import datasets
from app.core import training as t
from app.core.errors import InvalidInput

FAST_PARAMS = {
    "random_forest": {"n_estimators": 5},
    "gradient_boosting": {"n_estimators": 5},
    "hist_gradient_boosting": {"max_iter": 5},
}


def mixed_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Numeric and categorical features with missing values, a text target and a
    numeric one."""
    rng = np.random.default_rng(seed)
    size = rng.normal(10, 3, n)
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    frame = pd.DataFrame(
        {
            "size": size,
            "weight": rng.normal(5, 1, n),
            "colour": colour,
            "label": np.where(size > 10, "big", "small"),
            "price": size * 2.5 + rng.normal(0, 0.1, n),
        }
    )
    frame.loc[[1, 7], "size"] = np.nan
    frame.loc[[2, 9], "colour"] = np.nan
    return frame


CASES = [(algo, task) for algo, a in t.ALGORITHMS.items() for task in a.tasks]


@pytest.mark.parametrize(("algorithm", "task"), CASES)
def test_every_algorithm_trains_for_each_task_it_serves(algorithm, task):
    target = "label" if task == "classification" else "price"
    frame = mixed_frame().drop(columns=["price" if target == "label" else "label"])
    result = t.train(
        {
            "dataset": "mixed",
            "target": target,
            "algorithm": algorithm,
            "params": FAST_PARAMS.get(algorithm, {}),
        },
        frame,
    )
    assert result.task == task
    assert result.algorithm == algorithm
    if task == "classification":
        assert result.classes == ["big", "small"]
        assert {"accuracy", "f1_macro"} <= set(result.metrics["test"])
    else:
        assert result.classes is None
        assert {"rmse", "mae", "r2"} <= set(result.metrics["test"])
    assert [f["name"] for f in result.schema["features"]] == ["size", "weight", "colour"]


def test_iris_switches_from_tree_to_boosting_with_one_field():
    spec = {"dataset": "iris", "algorithm": "decision_tree"}
    tree = t.train(spec, datasets.load_bundled("iris"))
    boost = t.train(
        {**spec, "algorithm": "gradient_boosting", "params": {"n_estimators": 5}},
        datasets.load_bundled("iris"),
    )
    assert type(tree.pipeline[-1]).__name__ == "DecisionTreeClassifier"
    assert type(boost.pipeline[-1]).__name__ == "GradientBoostingClassifier"
    assert tree.classes == boost.classes == ["setosa", "versicolor", "virginica"]
    assert "roc_auc" in boost.metrics["test"]


def test_bundled_catalogue_lists_columns_and_target():
    cat = {d["id"]: d for d in datasets.bundled_catalogue()}
    assert {"iris", "wine", "breast_cancer", "diabetes"} <= set(cat)
    assert cat["iris"]["target"] == "target"
    assert cat["iris"]["task"] == "classification"
    assert cat["diabetes"]["task"] == "regression"
    assert "sepal length (cm)" in [c["name"] for c in cat["iris"]["columns"]]
    assert len(cat["iris"]["sha256"]) == 64


def test_the_schema_follows_the_shared_format():
    result = t.train(
        {"dataset": "m", "target": "label", "algorithm": "decision_tree"},
        mixed_frame().drop(columns=["price"]),
    )
    # training statistics are checked in tests/unit/test_statistics.py
    colour, size = (
        {k: v for k, v in f.items() if k != "statistics"}
        for f in (result.schema["features"][2], result.schema["features"][0])
    )
    assert colour == {
        "name": "colour",
        "type": "categorical",
        "categories": ["blue", "green", "red"],
        "allow_unknown": True,
        "nullable": True,
    }
    assert size == {"name": "size", "type": "numeric", "nullable": True}
    assert result.schema["features"][2]["statistics"]["count"] > 0


def test_pipeline_predicts_raw_rows_with_missing_values_and_unseen_categories():
    result = t.train(
        {
            "dataset": "m",
            "target": "label",
            "algorithm": "hist_gradient_boosting",
            "params": {"max_iter": 5},
        },
        mixed_frame().drop(columns=["price"]),
    )
    rows = pd.DataFrame(
        {
            "size": [np.nan, 12.0, 8.0, 9.0],
            "weight": [5.0, np.nan, 4.0, 5.5],
            # NaN from pandas, None from the service's JSON rows, a colour never seen
            "colour": pd.Series([np.nan, None, "purple", "red"], dtype=object),
        }
    )
    pred = result.pipeline.predict(rows)
    assert set(pred) <= {"big", "small"}
    proba = result.pipeline.predict_proba(rows)
    assert proba.shape == (4, 2)


def test_same_data_spec_and_seed_give_identical_predictions():
    spec = {
        "dataset": "m",
        "target": "price",
        "algorithm": "random_forest",
        "params": {"n_estimators": 5},
        "random_state": 7,
    }
    frame = mixed_frame().drop(columns=["label"])
    a = t.train(spec, frame.copy())
    b = t.train(spec, frame.copy())
    rows = frame.drop(columns=["price"]).head(10)
    np.testing.assert_array_equal(a.pipeline.predict(rows), b.pipeline.predict(rows))
    assert a.metrics == b.metrics
    assert a.training["dataset"]["sha256"] == b.training["dataset"]["sha256"]
    other = t.train({**spec, "random_state": 8}, frame.copy())
    assert not np.array_equal(a.pipeline.predict(rows), other.pipeline.predict(rows))


def test_training_record_has_dataset_hash_spec_and_library_versions():
    result = t.train(
        {"dataset": "iris", "algorithm": "linear"},
        datasets.load_bundled("iris"),
        dataset_sha256="ab" * 32,
    )
    rec = result.training
    assert rec["dataset"]["sha256"] == "ab" * 32
    assert rec["spec"]["algorithm"] == "linear" and rec["spec"]["random_state"] == 0
    assert set(rec["libraries"]) == {"sklearn", "numpy", "pandas", "python"}


def test_cross_validation_reports_mean_and_spread():
    result = t.train(
        {"dataset": "iris", "algorithm": "decision_tree", "cv_folds": 3},
        datasets.load_bundled("iris"),
    )
    cv = result.metrics["cv"]
    assert cv["folds"] == 3
    assert 0.8 < cv["accuracy_mean"] <= 1 and "f1_macro_std" in cv and "roc_auc_mean" in cv


def test_progress_stages_are_reported_in_order():
    seen = []
    t.train(
        {"dataset": "iris", "algorithm": "decision_tree", "cv_folds": 2},
        lambda: datasets.load_bundled("iris"),
        on_stage=seen.append,
    )
    assert seen == ["loading", "fitting", "evaluating"]


def test_task_inference_rules():
    frame = pd.DataFrame(
        {
            "x": range(40),
            "text": ["a", "b"] * 20,
            "few": [1, 2, 3, 4] * 10,
            "many": range(40),
            "real": np.linspace(0, 1, 40),
            "flag": [True, False] * 20,
        }
    )
    info = datasets.DatasetInfo.from_frame("d", frame)
    tasks = {
        c: t.validate_spec({"target": c, "features": ["x"]}, info)["task"]
        for c in ("text", "few", "many", "real", "flag")
    }
    assert tasks == {
        "text": "classification",
        "few": "classification",
        "many": "regression",
        "real": "regression",
        "flag": "classification",
    }


def test_an_explicit_classification_task_on_integral_floats_trains():
    frame = pd.DataFrame({"x": np.arange(40.0), "y": [1.0, 2.0] * 20})
    result = t.train(
        {"dataset": "d", "target": "y", "task": "classification", "algorithm": "decision_tree"},
        frame,
    )
    assert result.classes == [1, 2]


IRIS = datasets.bundled_info("iris")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"algorithm": "deep_learning"}, "algorithm"),
        ({"algorithm": "decision_tree", "params": {"max_deepth": 3}}, "params.max_deepth"),
        ({"algorithm": "decision_tree", "params": {"max_depth": "deep"}}, "params"),
        ({"algorithm": "decision_tree", "params": [1]}, "params"),
        ({"test_size": 0}, "test_size"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": "0.2"}, "test_size"),
        ({"cv_folds": 1}, "cv_folds"),
        ({"cv_folds": 500}, "cv_folds"),
        ({"cv_folds": 2.5}, "cv_folds"),
        ({"target": "petal colour"}, "target"),
        ({"algorithm": "linear_regression"}, "algorithm"),
        ({"task": "regression"}, "task"),
        ({"task": "clustering"}, "task"),
        ({"random_state": -1}, "random_state"),
        ({"promote": "yes"}, "promote"),
        ({"features": ["nope"]}, "features"),
        ({"features": ["target"]}, "features"),
        ({"learning_rate": 0.1}, "learning_rate"),
    ],
)
def test_bad_specs_are_refused_naming_the_problem(spec, field):
    with pytest.raises(InvalidInput) as info:
        t.validate_spec({"dataset": "iris", **spec}, IRIS)
    assert field in info.value.errors
    assert field.split(".")[0] in info.value.message


def test_a_regression_only_algorithm_on_a_text_target_says_why():
    with pytest.raises(InvalidInput, match="does not do classification"):
        t.validate_spec({"algorithm": "linear_regression"}, IRIS)


def test_a_valid_spec_is_normalised_with_defaults():
    spec = t.validate_spec(
        {"dataset": "iris", "algorithm": "ridge", "params": {"alpha": 2.0}}, IRIS
    )
    assert spec == {
        "dataset": "iris",
        "target": "target",
        "algorithm": "ridge",
        "task": "classification",
        "params": {"alpha": 2.0},
        "test_size": 0.2,
        "cv_folds": 0,
        "random_state": 0,
        "promote": False,
    }


def test_too_many_folds_for_the_smallest_class_fails_with_invalid_input():
    frame = pd.DataFrame({"x": np.arange(30.0), "y": ["a"] * 27 + ["b"] * 3})
    with pytest.raises(InvalidInput, match="cv_folds"):
        t.train({"dataset": "d", "target": "y", "algorithm": "decision_tree", "cv_folds": 5}, frame)


# ---- CSV ---------------------------------------------------------------------------


def test_csv_types_are_inferred():
    frame = datasets.read_csv(b"a,b,c,d\n1,x,1.5,true\n2,,2.5,false\n3,z,,true\n")
    cols = {c["name"]: (c["type"], c["dtype"]) for c in datasets.profile_columns(frame)}
    assert cols == {
        "a": ("numeric", "int"),
        "b": ("categorical", "str"),
        "c": ("numeric", "float"),
        "d": ("numeric", "bool"),
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"a,b\n", "no data rows"),
        (b"a,b,a\n1,2,3\n", "duplicate column names"),
        (b"a,,c\n1,2,3\n", "unnamed"),
        (b"only\n1\n", "at least two columns"),
        (b"a,b\n1,2\n3,4,5,6\n", "cannot be parsed"),
        (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
        (b'a,b\n"unclosed,1\n', "cannot be parsed"),
    ],
)
def test_bad_csvs_are_refused_with_a_clear_message(body, message):
    with pytest.raises(InvalidInput, match=message):
        datasets.read_csv(body)


def test_a_csv_without_the_target_column_is_refused():
    frame = datasets.read_csv(b"a,b\n1,2\n3,4\n")
    with pytest.raises(InvalidInput, match="no column 'label'"):
        t.validate_spec({"target": "label"}, datasets.DatasetInfo.from_frame(1, frame))


def test_rows_with_a_missing_target_are_dropped():
    frame = mixed_frame().drop(columns=["label"])
    frame.loc[[0, 5], "price"] = np.nan
    result = t.train({"dataset": "m", "target": "price", "algorithm": "linear"}, frame)
    assert result.training["dataset"]["rows_dropped_missing_target"] == 2
    assert result.metrics["n_train"] + result.metrics["n_test"] == 58
