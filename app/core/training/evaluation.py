"""Metrics of a fitted pipeline on held-out rows, and k-fold cross-validation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InvalidInput

Metrics = dict[str, Any]


def evaluate(pipeline: Any, X: pd.DataFrame, y: np.ndarray[Any, Any], task: str) -> Metrics:
    pred = pipeline.predict(X)
    if task == "regression":
        return regression_metrics(y, pred)
    return {**classification_metrics(y, pred), **_roc_auc(pipeline, X, y)}


def regression_metrics(y: np.ndarray[Any, Any], pred: np.ndarray[Any, Any]) -> Metrics:
    from sklearn import metrics as m

    return {
        "rmse": float(math.sqrt(m.mean_squared_error(y, pred))),
        "mae": float(m.mean_absolute_error(y, pred)),
        "r2": float(m.r2_score(y, pred)) if len(y) > 1 else None,
    }


def classification_metrics(y: np.ndarray[Any, Any], pred: np.ndarray[Any, Any]) -> Metrics:
    from sklearn import metrics as m

    return {
        "accuracy": float(m.accuracy_score(y, pred)),
        "f1_macro": float(m.f1_score(y, pred, average="macro", zero_division=0)),
    }


def _roc_auc(pipeline: Any, X: pd.DataFrame, y: np.ndarray[Any, Any]) -> Metrics:
    """{"roc_auc": ...} for a classifier with probabilities, when every class is present."""
    from sklearn import metrics as m

    if not hasattr(pipeline, "predict_proba"):
        return {}
    classes = pipeline.classes_
    if len(set(np.unique(y).tolist())) != len(classes):  # AUC is undefined when a class is absent
        return {}
    proba = pipeline.predict_proba(X)
    if len(classes) == 2:
        return {"roc_auc": float(m.roc_auc_score(y, proba[:, 1], labels=classes))}
    return {"roc_auc": float(m.roc_auc_score(y, proba, multi_class="ovr", labels=classes))}


def cross_validate(
    pipeline: Any,
    X: pd.DataFrame,
    y: np.ndarray[Any, Any],
    task: str,
    *,
    folds: int,
    seed: int,
    smallest_class: int | None,
) -> Metrics:
    """Mean and standard deviation of each metric over `folds` shuffled folds (stratified
    for classification), each fitting a fresh clone of `pipeline`."""
    from sklearn.base import clone

    per_fold = []
    for train_idx, test_idx in _splitter(task, folds, seed, smallest_class).split(X, y):
        fold = clone(pipeline).fit(X.iloc[train_idx], y[train_idx])
        per_fold.append(evaluate(fold, X.iloc[test_idx], y[test_idx], task))
    cv: Metrics = {"folds": folds}
    for key in per_fold[0]:
        values = [f[key] for f in per_fold if f.get(key) is not None]
        if len(values) == len(per_fold):  # a metric some fold lacks has no mean
            cv[f"{key}_mean"] = float(np.mean(values))
            cv[f"{key}_std"] = float(np.std(values))
    return cv


def _splitter(task: str, folds: int, seed: int, smallest_class: int | None) -> Any:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task != "classification":
        return KFold(folds, shuffle=True, random_state=seed)
    if smallest_class is not None and smallest_class < folds:
        raise InvalidInput(
            f"cv_folds={folds} but the smallest class has only {smallest_class} rows",
            {"cv_folds": "too many folds"},
        )
    return StratifiedKFold(folds, shuffle=True, random_state=seed)
