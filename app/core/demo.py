"""Demo models seeded into an empty registry so a newcomer can predict at once.
Trained with fixed seeds on datasets that scikit-learn ships."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from app.core.registry import Registry
from app.core.training.evaluation import classification_metrics, regression_metrics

log = logging.getLogger(__name__)

IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DIABETES_FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _numeric_schema(names: list[str], example: np.ndarray) -> dict[str, Any]:
    return {
        "features": [
            {"name": n, "type": "numeric", "nullable": False, "example": float(x)}
            for n, x in zip(names, example, strict=True)
        ]
    }


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
    for est in (
        DecisionTreeClassifier(max_depth=3, random_state=42),
        GradientBoostingClassifier(n_estimators=100, random_state=42),
    ):
        est.fit(Xtr, ytr)
        v = registry.add_estimator(
            "iris",
            est,
            schema=_numeric_schema(IRIS_FEATURES, X[0]),
            metrics=classification_metrics(yte, est.predict(Xte)),
            promote=True,
            training=iris,
            description="Iris species from flower measurements "
            "(classes 0 setosa, 1 versicolor, 2 virginica)",
        )
        added.append(f"iris v{v['version']}")

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=42)
    est = Ridge(alpha=0.1).fit(Xtr, ytr)
    v = registry.add_estimator(
        "diabetes",
        est,
        schema=_numeric_schema(DIABETES_FEATURES, X[0]),
        metrics=regression_metrics(yte, est.predict(Xte)),
        promote=True,
        training={"dataset": "diabetes (scikit-learn)", "random_state": 42},
        description="Diabetes progression one year after baseline",
    )
    added.append(f"diabetes v{v['version']}")
    log.info("seeded demo models: %s", ", ".join(added))
    return added
