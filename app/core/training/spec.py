"""The training spec: its fields, their defaults, and checking a request against the
dataset's column profiles so that a bad request is a 400 rather than a failed job.

Task inference from the target column: text or boolean -> classification; integers with
at most MAX_INT_CLASSES distinct values -> classification; other integers and floats ->
regression. A spec may say `"task"` explicitly: classification of a numeric target is
allowed, regression of a text target is refused. Either way the classes are limited
(`limits.TrainingLimits`), as are estimator counts, iterations and the data's size.

Each field has one validator: it records what is wrong with its field in `errors` and
returns the field's value (default filled in) for the fields checked after it."""

from __future__ import annotations

import math
from typing import Any

from app.core.datasets import ColumnProfile, DatasetInfo
from app.core.errors import InvalidInput
from app.core.training.algorithms import ALGORITHMS, TASKS, make_estimator
from app.core.training.limits import (
    DEFAULT_LIMITS,
    TrainingLimits,
    allowed_n_jobs,
    check_cells,
    check_classes,
    check_counts,
)

MAX_INT_CLASSES = 20  # integer targets with at most this many values are classes
MAX_CLASSES = DEFAULT_LIMITS.max_classes  # more classes are refused (TRAIN_MAX_CLASSES)
MAX_CV_FOLDS = 20
SPEC_KEYS = (
    "dataset",
    "target",
    "features",
    "algorithm",
    "params",
    "task",
    "test_size",
    "cv_folds",
    "random_state",
    "promote",
)
DEFAULT_ALGORITHM = "random_forest"
DEFAULT_TEST_SIZE = 0.2
DEFAULT_RANDOM_STATE = 0

Errors = dict[str, str]


def infer_task(column: ColumnProfile) -> str:
    if column["dtype"] in ("str", "bool"):
        return "classification"
    if column["dtype"] == "int" and column["n_unique"] <= MAX_INT_CLASSES:
        return "classification"
    return "regression"


def validate_spec(
    spec: Any, dataset: DatasetInfo, limits: TrainingLimits = DEFAULT_LIMITS
) -> dict[str, Any]:
    """Check a training spec against the dataset's column profiles and the training
    limits, and return it normalised (defaults filled in, task resolved, `n_jobs`
    within the worker's allowance), ready to be stored with the job. Every problem
    found is named in the InvalidInput's `errors`."""
    if not isinstance(spec, dict):
        raise InvalidInput("the training spec must be a JSON object")
    errors = _unknown_fields(spec)
    target, target_col = _check_target(spec.get("target") or dataset.target, dataset, errors)
    features = _check_features(spec.get("features"), target, target_col, dataset, errors)
    algorithm = _check_algorithm(spec.get("algorithm", DEFAULT_ALGORITHM), errors)
    task = _check_task(spec.get("task"), target, target_col, limits, errors)
    if features and (too_large := check_cells(dataset.n_rows, len(features) + 1, limits)):
        errors["dataset"] = too_large
    test_size = _check_test_size(spec.get("test_size", DEFAULT_TEST_SIZE), dataset.n_rows, errors)
    cv_folds = _check_cv_folds(spec.get("cv_folds") or 0, dataset.n_rows, errors)
    random_state = _check_random_state(spec.get("random_state", DEFAULT_RANDOM_STATE), errors)
    promote = _check_promote(spec.get("promote", False), errors)
    params = _check_params(spec.get("params") or {}, algorithm, task, random_state, errors)
    if isinstance(params, dict):
        errors.update(check_counts(algorithm, params, limits))
        params = allowed_n_jobs(params, limits)
    if errors:
        raise InvalidInput(_summary(errors), errors)
    out = {
        "dataset": dataset.id,
        "target": target,
        "algorithm": algorithm,
        "task": task,
        "params": params,
        "test_size": float(test_size),
        "cv_folds": cv_folds,
        "random_state": random_state,
        "promote": promote,
    }
    if spec.get("features") is not None and features is not None:
        out["features"] = list(features)
    return out


def _summary(errors: Errors) -> str:
    key, problem = next(iter(errors.items()))
    summary = f"invalid training request: {key}: {problem}"
    if len(errors) > 1:
        summary += f" (and {len(errors) - 1} more problem(s))"
    return summary


def _unknown_fields(spec: dict[str, Any]) -> Errors:
    unknown = sorted(k for k in spec if k not in SPEC_KEYS)
    return {k: f"unknown field; known: {', '.join(SPEC_KEYS)}" for k in unknown}


def _check_target(
    target: Any, dataset: DatasetInfo, errors: Errors
) -> tuple[Any, ColumnProfile | None]:
    if not target:
        errors["target"] = "name the target column"
        return target, None
    if not isinstance(target, str):
        errors["target"] = "must be a column name"
        return target, None
    column = dataset.column(target)
    if column is None:
        errors["target"] = (
            f"no column {target!r} in dataset {dataset.id}; columns: "
            + ", ".join(c["name"] for c in dataset.columns)[:500]
        )
    elif column["n_missing"] >= dataset.n_rows:
        errors["target"] = f"column {target!r} has no values"
    return target, column


def _check_features(
    named: Any, target: Any, target_col: ColumnProfile | None, dataset: DatasetInfo, errors: Errors
) -> list[str] | None:
    """The named features, or every column but the target when none are named."""
    features: list[str] | None = None
    if named is not None:
        if not isinstance(named, list) or not named or not all(isinstance(f, str) for f in named):
            errors["features"] = "must be a non-empty list of column names"
        else:
            features = named
            if problem := _named_features_problem(features, target, dataset):
                errors["features"] = problem
    if features is None and target_col is not None:
        features = [c["name"] for c in dataset.columns if c["name"] != target]
        if not features:
            errors["features"] = "the dataset has no column besides the target"
    if features:
        empty = [
            f
            for f in features
            if (c := dataset.column(f)) is not None and c["n_missing"] >= dataset.n_rows
        ]
        if empty:
            errors["features"] = "column(s) without any value: " + ", ".join(empty)
    return features


def _named_features_problem(features: list[str], target: Any, dataset: DatasetInfo) -> str | None:
    missing = [f for f in features if dataset.column(f) is None]
    if missing:
        return "no such column(s): " + ", ".join(missing)
    if target in features:
        return "the target cannot also be a feature"
    if len(set(features)) != len(features):
        return "duplicate column names"
    return None


def _check_algorithm(algorithm: Any, errors: Errors) -> Any:
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        errors["algorithm"] = f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}"
    return algorithm


def _check_task(
    task: Any,
    target: Any,
    target_col: ColumnProfile | None,
    limits: TrainingLimits,
    errors: Errors,
) -> Any:
    """The task asked for, or the one the target column calls for."""
    asked = task
    if task is not None and task not in TASKS:
        errors["task"] = "must be 'classification' or 'regression'"
        return task
    if target_col is None:
        return task
    if task is None:
        task = infer_task(target_col)
    elif task == "regression" and target_col["dtype"] in ("str", "bool"):
        errors["task"] = (
            f"regression needs a numeric target; {target!r} holds "
            f"{'text' if target_col['dtype'] == 'str' else 'booleans'}"
        )
    too_many = check_classes(target, target_col["n_unique"], limits)
    if task == "classification" and too_many:
        errors["target" if asked is None else "task"] = too_many
    if task == "classification" and target_col["n_unique"] < 2:
        errors["target"] = f"{target!r} has fewer than two classes"
    return task


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_test_size(test_size: Any, n_rows: int, errors: Errors) -> Any:
    if not _is_number(test_size) or not 0 < test_size < 1:
        errors["test_size"] = "must be a number between 0 and 1 (exclusive), e.g. 0.2"
    elif math.floor(n_rows * test_size) < 1 or n_rows - math.ceil(n_rows * test_size) < 2:
        errors["test_size"] = (
            f"with {n_rows} rows, test_size={test_size} leaves no test row or too few training rows"
        )
    return test_size


def _check_cv_folds(cv_folds: Any, n_rows: int, errors: Errors) -> Any:
    if not _is_int(cv_folds) or cv_folds < 0 or cv_folds == 1 or cv_folds > MAX_CV_FOLDS:
        errors["cv_folds"] = (
            f"must be 0 (no cross-validation) or an integer from 2 to {MAX_CV_FOLDS}"
        )
    elif cv_folds > n_rows:
        errors["cv_folds"] = f"cannot exceed the number of rows ({n_rows})"
    return cv_folds


def _check_random_state(random_state: Any, errors: Errors) -> Any:
    if not _is_int(random_state) or not 0 <= random_state < 2**32:
        errors["random_state"] = "must be an integer from 0 to 2**32-1"
    return random_state


def _check_promote(promote: Any, errors: Errors) -> Any:
    if not isinstance(promote, bool):
        errors["promote"] = "must be true or false"
    return promote


def _check_params(params: Any, algorithm: Any, task: Any, random_state: Any, errors: Errors) -> Any:
    """Estimator parameters, tried on the estimator once algorithm and task are sound."""
    if not isinstance(params, dict):
        errors["params"] = "must be an object of estimator parameters"
        return params
    if "algorithm" in errors or "task" in errors or task not in TASKS:
        return params
    seed = random_state if "random_state" not in errors else None
    try:
        make_estimator(algorithm, task, params, seed)
    except InvalidInput as exc:
        if not exc.errors:
            errors["params"] = exc.message
        for key, value in exc.errors.items():
            errors[key] = exc.message if key in ("params", "algorithm") else value
    return params
