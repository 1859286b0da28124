"""Training limits in the core: each one refuses a spec beyond it with the setting's
name, n_jobs is brought within the worker's allowance, and the limits come from the
configuration."""

from __future__ import annotations

import pandas as pd
import pytest

from app.config import TestingConfig
from app.core import datasets
from app.core import training as t
from app.core.errors import InvalidInput
from app.core.training.limits import TrainingLimits

IRIS = datasets.bundled_info("iris")
LIMITS = TrainingLimits(max_estimators=50, max_iter=300, max_classes=5, max_cells=10_000, n_jobs=2)


def refused(spec: dict, info=IRIS, limits=LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        t.validate_spec({"dataset": "iris", **spec}, info, limits)
    return caught.value


@pytest.mark.parametrize(
    ("algorithm", "params", "field", "setting"),
    [
        ("random_forest", {"n_estimators": 51}, "params.n_estimators", "TRAIN_MAX_ESTIMATORS"),
        (
            "gradient_boosting",
            {"n_estimators": 10**6},
            "params.n_estimators",
            "TRAIN_MAX_ESTIMATORS",
        ),
        ("hist_gradient_boosting", {"max_iter": 51}, "params.max_iter", "TRAIN_MAX_ESTIMATORS"),
        ("linear", {"max_iter": 301}, "params.max_iter", "TRAIN_MAX_ITER"),
        ("lasso", {"max_iter": 10**9}, "params.max_iter", "TRAIN_MAX_ITER"),
    ],
)
def test_counts_beyond_their_limit_are_refused_naming_the_setting(
    algorithm, params, field, setting
):
    exc = refused({"algorithm": algorithm, "params": params})
    assert setting in exc.errors[field] and setting in exc.message


def test_counts_at_their_limit_are_accepted():
    spec = t.validate_spec(
        {"dataset": "iris", "algorithm": "random_forest", "params": {"n_estimators": 50}},
        IRIS,
        LIMITS,
    )
    assert spec["params"]["n_estimators"] == 50


@pytest.mark.parametrize(("asked", "used"), [(-1, 2), (-3, 2), (8, 2), (1, 1), (2, 2)])
def test_n_jobs_is_brought_within_the_workers_allowance(asked, used):
    spec = t.validate_spec(
        {"dataset": "iris", "algorithm": "random_forest", "params": {"n_jobs": asked}},
        IRIS,
        LIMITS,
    )
    assert spec["params"]["n_jobs"] == used


def test_n_jobs_left_out_stays_out():
    spec = t.validate_spec({"dataset": "iris", "algorithm": "random_forest"}, IRIS, LIMITS)
    assert "n_jobs" not in spec["params"]


def _ids_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "user_id": [f"u{i:05d}" for i in range(n)]})


def test_an_id_column_as_inferred_target_is_refused_naming_the_limit():
    info = datasets.DatasetInfo.from_frame("1", _ids_frame(500), "user_id")
    exc = refused({"dataset": "1"}, info)
    assert "TRAIN_MAX_CLASSES" in exc.errors["target"] and "500 distinct values" in exc.message


def test_too_many_classes_asked_for_explicitly_is_refused_on_task():
    frame = pd.DataFrame({"x": range(100), "y": [i % 10 for i in range(100)]})
    info = datasets.DatasetInfo.from_frame("1", frame, "y")
    exc = refused({"dataset": "1", "task": "classification"}, info)
    assert "TRAIN_MAX_CLASSES" in exc.errors["task"]
    assert t.validate_spec({"dataset": "1", "task": "regression"}, info, LIMITS)


def test_rows_times_columns_beyond_the_limit_are_refused():
    frame = pd.DataFrame({f"c{i}": range(1000) for i in range(10)})  # 10 columns used
    info = datasets.DatasetInfo.from_frame("1", frame, "c0")
    exc = refused({"dataset": "1"}, info, TrainingLimits(max_cells=9_999))
    assert "TRAIN_MAX_CELLS" in exc.errors["dataset"] and "1000 rows x 10 columns" in exc.message
    fewer = t.validate_spec(
        {"dataset": "1", "features": ["c1", "c2"]}, info, TrainingLimits(max_cells=9_999)
    )
    assert fewer["features"] == ["c1", "c2"]


def test_the_limits_come_from_the_settings(monkeypatch):
    monkeypatch.setenv("TRAIN_MAX_ESTIMATORS", "7")
    monkeypatch.setenv("TRAIN_MAX_ITER", "8")
    monkeypatch.setenv("TRAIN_MAX_CLASSES", "9")
    monkeypatch.setenv("TRAIN_MAX_CELLS", "10")
    monkeypatch.setenv("JOB_N_JOBS", "0")  # never less than one
    assert TrainingLimits.from_settings(TestingConfig()) == TrainingLimits(7, 8, 9, 10, 1)


def test_the_default_limits_let_the_bundled_datasets_train():
    for name in datasets.BUNDLED:
        info = datasets.bundled_info(name)
        assert t.validate_spec({"dataset": name}, info)["task"] in ("classification", "regression")
