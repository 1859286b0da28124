"""Fitting one training job: load the data, validate the spec against it, split, fit the
pipeline, evaluate it, and describe how it was made.

The served model is the one evaluated: it is fitted on the training split only, so the
held-out metrics describe exactly what answers predictions. Rows whose target is
missing are dropped before training."""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from app.core.datasets import (
    BUNDLED,
    BUNDLED_TARGET,
    ColumnProfile,
    DatasetInfo,
    frame_sha256,
    profile_columns,
)
from app.core.errors import InvalidInput
from app.core.statistics import with_statistics
from app.core.training.algorithms import make_estimator
from app.core.training.evaluation import Metrics, cross_validate, evaluate
from app.core.training.limits import DEFAULT_LIMITS, TrainingLimits
from app.core.training.pipeline import (
    build_pipeline,
    feature_schema,
    jsonable,
    prepare_features,
    prepare_target,
)
from app.core.training.spec import validate_spec

# the dataset, or a loader returning it (alone, or with the file's own sha256)
TrainingData: TypeAlias = pd.DataFrame | Callable[[], pd.DataFrame | tuple[pd.DataFrame, str]]


@dataclass
class TrainingResult:
    pipeline: Any
    task: str
    algorithm: str
    metrics: Metrics
    classes: list[Any] | None
    schema: dict[str, Any]
    training: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Prepared:
    """The rows to learn from, as the pipeline takes them."""

    X: pd.DataFrame
    y: np.ndarray[Any, Any]
    columns: list[ColumnProfile]
    rows_dropped: int
    smallest_class: int | None  # rows of the rarest class (classification only)


@dataclass
class _Split:
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]


def train(
    spec: dict[str, Any],
    data: TrainingData,
    *,
    dataset_sha256: str | None = None,
    on_stage: Callable[[str], None] | None = None,
    limits: TrainingLimits = DEFAULT_LIMITS,
) -> TrainingResult:
    """Fit and evaluate the pipeline a (validated or raw) spec describes, within
    `limits`. `on_stage` hears "loading", "fitting" and "evaluating" (the caller
    reports "saving")."""
    stage = on_stage or _ignore_stage
    started = time.monotonic()
    stage("loading")
    frame, dataset_sha256 = _load(data, dataset_sha256)
    info = _dataset_info(spec, frame)
    spec = validate_spec(spec, info, limits)
    task = spec["task"]
    prepared = _prepare(frame, spec)
    split = _split(prepared, spec)
    estimator = make_estimator(spec["algorithm"], task, spec["params"], spec["random_state"])
    pipeline = build_pipeline(prepared.columns, estimator)
    stage("fitting")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _fit(pipeline, split, task)
        stage("evaluating")
        metrics = _metrics(pipeline, prepared, split, spec)
    caught = _distinct_warnings(record)
    classes = [jsonable(c) for c in pipeline.classes_] if task == "classification" else None
    schema = with_statistics(feature_schema(pipeline, prepared.columns), split.X_train)
    training = {
        "dataset": {
            "id": spec["dataset"],
            "sha256": dataset_sha256,
            "n_rows": info.n_rows,
            "rows_dropped_missing_target": prepared.rows_dropped,
        },
        "spec": spec,
        "estimator": type(estimator).__name__,
        "libraries": library_versions(),
        "warnings": caught,
        "duration_seconds": round(time.monotonic() - started, 3),
    }
    return TrainingResult(
        pipeline, task, spec["algorithm"], metrics, classes, schema, training, caught
    )


def library_versions() -> dict[str, str]:
    import sklearn

    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _ignore_stage(_stage: str) -> None:
    pass


def _load(data: TrainingData, sha256: str | None) -> tuple[pd.DataFrame, str]:
    loaded = data() if callable(data) else data
    if isinstance(loaded, tuple):  # a loader may hand back the file's own digest
        loaded, sha256 = loaded
    return loaded, sha256 or frame_sha256(loaded)


def _dataset_info(spec: dict[str, Any], frame: pd.DataFrame) -> DatasetInfo:
    default_target = BUNDLED_TARGET if spec.get("dataset") in BUNDLED else None
    return DatasetInfo.from_frame(
        spec.get("dataset", "data"), frame, spec.get("target") or default_target
    )


def _prepare(frame: pd.DataFrame, spec: dict[str, Any]) -> _Prepared:
    task, target = spec["task"], spec["target"]
    kept = frame[frame[target].notna()]
    feature_names = spec.get("features") or [c for c in kept.columns if c != target]
    columns = profile_columns(kept[feature_names])
    X = prepare_features(kept, columns)
    y = prepare_target(kept[target], task)
    smallest_class = None
    if task == "classification":
        _labels, counts = np.unique(y.astype(str) if y.dtype == object else y, return_counts=True)
        if len(counts) < 2:
            raise InvalidInput(
                f"{target!r} has fewer than two classes after dropping missing values"
            )
        smallest_class = int(counts.min())
    return _Prepared(X, y, columns, len(frame) - len(kept), smallest_class)


def _split(prepared: _Prepared, spec: dict[str, Any]) -> _Split:
    from sklearn.model_selection import train_test_split

    stratified = prepared.smallest_class is not None and prepared.smallest_class >= 2
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            prepared.X,
            prepared.y,
            test_size=spec["test_size"],
            random_state=spec["random_state"],
            stratify=prepared.y if stratified else None,
        )
    except ValueError as exc:
        raise InvalidInput(
            f"cannot split the data for evaluation: {exc}", {"test_size": str(exc)}
        ) from None
    return _Split(X_train, X_test, y_train, y_test)


def _fit(pipeline: Any, split: _Split, task: str) -> None:
    try:
        pipeline.fit(split.X_train, split.y_train)
    except ValueError as exc:  # e.g. a parameter combination sklearn only checks in fit
        raise InvalidInput(f"training failed: {exc}") from None
    if task == "classification" and len(np.unique(split.y_train.astype(str))) < 2:
        raise InvalidInput("the training split holds a single class")


def _metrics(pipeline: Any, prepared: _Prepared, split: _Split, spec: dict[str, Any]) -> Metrics:
    task = spec["task"]
    metrics: Metrics = {
        "test": evaluate(pipeline, split.X_test, split.y_test, task),
        "n_train": len(split.X_train),
        "n_test": len(split.X_test),
    }
    if spec["cv_folds"]:
        metrics["cv"] = cross_validate(
            pipeline,
            prepared.X,
            prepared.y,
            task,
            folds=spec["cv_folds"],
            seed=spec["random_state"],
            smallest_class=prepared.smallest_class,
        )
    return metrics


def _distinct_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    """Each warning once, as "Category: first line of its message"."""
    caught: list[str] = []
    for w in record:
        text = f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
        if text not in caught:
            caught.append(text)
    return caught
