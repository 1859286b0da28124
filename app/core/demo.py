"""Demo models seeded into an empty registry so a newcomer can predict at once.
Trained with fixed seeds on datasets that scikit-learn ships."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from app.core.registry import Registry

log = logging.getLogger(__name__)

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _numeric_schema(names: list[str], example: np.ndarray) -> dict[str, Any]:
    return {"features": [{"name": n, "type": "numeric", "nullable": False, "example": float(x)}
                         for n, x in zip(names, example)]}


def _classifier_metrics(est: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = est.predict(X)
    return {"accuracy": float(accuracy_score(y, pred)), "f1_macro": float(f1_score(y, pred, average="macro"))}


def _regressor_metrics(est: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    pred = est.predict(X)
    return {"rmse": float(mean_squared_error(y, pred) ** 0.5),
            "mae": float(mean_absolute_error(y, pred)), "r2": float(r2_score(y, pred))}


def seed_demo_models(registry: Registry) -> list[str]:
    """Register iris (v1 decision tree, v2 gradient boosting in production) and
    diabetes (ridge regression). Returns what was added."""
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    added: list[str] = []
    X, y = load_iris(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    iris = {"dataset": "iris (scikit-learn)", "random_state": 42}
    for est in (DecisionTreeClassifier(max_depth=3, random_state=42),
                GradientBoostingClassifier(n_estimators=100, random_state=42)):
        est.fit(Xtr, ytr)
        v = registry.add_estimator("iris", est, schema=_numeric_schema(IRIS_FEATURES, X[0]),
                                   metrics=_classifier_metrics(est, Xte, yte), promote=True,
                                   training=iris, description="Iris species from flower measurements "
                                   "(classes 0 setosa, 1 versicolor, 2 virginica)")
        added.append(f"iris v{v['version']}")

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42)
    est = Ridge(alpha=0.1).fit(Xtr, ytr)
    v = registry.add_estimator("diabetes", est, schema=_numeric_schema(DIABETES_FEATURES, X[0]),
                               metrics=_regressor_metrics(est, Xte, yte), promote=True,
                               training={"dataset": "diabetes (scikit-learn)", "random_state": 42},
                               description="Diabetes progression one year after baseline")
    added.append(f"diabetes v{v['version']}")
    log.info("seeded demo models: %s", ", ".join(added))
    return added
