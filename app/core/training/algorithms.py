"""The algorithm catalogue: which scikit-learn estimator serves each (algorithm, task),
with the defaults this service gives it, and building one with a request's parameters.

One algorithm name serves both tasks ("random_forest" is a RandomForestClassifier on a
classification target and a RandomForestRegressor on a regression one).
`logistic_regression` and `linear_regression` are task-specific spellings of `linear`.
`lasso` on a classification target is L1-penalised logistic regression (saga solver),
the classifier analogue of the Lasso."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import InvalidInput

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class EstimatorClass:
    """A scikit-learn estimator class, named by its dotted path so that reading the
    catalogue does not import scikit-learn's model modules, and the parameters this
    service sets before a request's own."""

    path: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Any:
        module, _, name = self.path.rpartition(".")
        return getattr(importlib.import_module(module), name)(**self.defaults)

    def param_names(self) -> list[str]:
        return sorted(self.build().get_params(deep=False))


@dataclass(frozen=True)
class Algorithm:
    name: str
    description: str
    estimators: Mapping[str, EstimatorClass]  # task -> estimator

    @property
    def tasks(self) -> list[str]:
        return sorted(self.estimators)


def _by_task(
    classifier: EstimatorClass | None,
    regressor: EstimatorClass | None,
) -> dict[str, EstimatorClass]:
    pairs = ((CLASSIFICATION, classifier), (REGRESSION, regressor))
    return {task: est for task, est in pairs if est is not None}


def _sk(path: str, **defaults: Any) -> EstimatorClass:
    return EstimatorClass(f"sklearn.{path}", defaults)


_LOGISTIC = _sk("linear_model.LogisticRegression", max_iter=1000)
_LINEAR = _sk("linear_model.LinearRegression")


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "linear",
            "LogisticRegression (classification) / LinearRegression (regression)",
            _by_task(_LOGISTIC, _LINEAR),
        ),
        Algorithm(
            "logistic_regression",
            "LogisticRegression (classification only)",
            _by_task(_LOGISTIC, None),
        ),
        Algorithm(
            "linear_regression", "LinearRegression (regression only)", _by_task(None, _LINEAR)
        ),
        Algorithm(
            "ridge",
            "RidgeClassifier / Ridge",
            _by_task(_sk("linear_model.RidgeClassifier"), _sk("linear_model.Ridge")),
        ),
        Algorithm(
            "lasso",
            "L1-penalised LogisticRegression (saga) / Lasso",
            _by_task(
                _sk("linear_model.LogisticRegression", l1_ratio=1.0, solver="saga", max_iter=5000),
                _sk("linear_model.Lasso"),
            ),
        ),
        Algorithm(
            "decision_tree",
            "DecisionTreeClassifier / DecisionTreeRegressor",
            _by_task(_sk("tree.DecisionTreeClassifier"), _sk("tree.DecisionTreeRegressor")),
        ),
        Algorithm(
            "random_forest",
            "RandomForestClassifier / RandomForestRegressor",
            _by_task(_sk("ensemble.RandomForestClassifier"), _sk("ensemble.RandomForestRegressor")),
        ),
        Algorithm(
            "gradient_boosting",
            "GradientBoostingClassifier / GradientBoostingRegressor",
            _by_task(
                _sk("ensemble.GradientBoostingClassifier"),
                _sk("ensemble.GradientBoostingRegressor"),
            ),
        ),
        Algorithm(
            "hist_gradient_boosting",
            "HistGradientBoostingClassifier / HistGradientBoostingRegressor",
            _by_task(
                _sk("ensemble.HistGradientBoostingClassifier"),
                _sk("ensemble.HistGradientBoostingRegressor"),
            ),
        ),
    )
}


def algorithm_catalogue() -> list[dict[str, Any]]:
    """Every algorithm with the tasks it serves and the parameters it accepts."""
    return [
        {
            "name": algo.name,
            "description": algo.description,
            "tasks": algo.tasks,
            "params": {task: est.param_names() for task, est in algo.estimators.items()},
        }
        for algo in ALGORITHMS.values()
    ]


def make_estimator(
    algorithm: str,
    task: str,
    params: Mapping[str, Any] | None = None,
    random_state: int | None = None,
) -> Any:
    """The estimator for (algorithm, task) with `params` applied and validated."""
    est = _estimator_class(algorithm, task).build()
    accepted = est.get_params(deep=False)
    if random_state is not None and "random_state" in accepted:
        est.set_params(random_state=random_state)
    params = params or {}
    unknown = sorted(k for k in params if k not in accepted)
    if unknown:
        raise InvalidInput(
            f"{type(est).__name__} does not accept parameter(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(sorted(accepted))}",
            {f"params.{k}": "unknown parameter" for k in unknown},
        )
    est.set_params(**params)
    try:
        est._validate_params()  # scikit-learn's own constraints, checked now rather than at fit
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"invalid parameter for {type(est).__name__}: {exc}", {"params": str(exc)[:300]}
        ) from None
    return est


def _estimator_class(algorithm: str, task: str) -> EstimatorClass:
    algo = ALGORITHMS.get(algorithm)
    if algo is None:
        raise InvalidInput(
            f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}",
            {"algorithm": "unknown algorithm"},
        )
    est = algo.estimators.get(task)
    if est is None:
        other = ", ".join(a.name for a in ALGORITHMS.values() if task in a.estimators)
        raise InvalidInput(
            f"algorithm {algorithm!r} does not do {task} (the target calls for "
            f"{task}); use one of: {other}",
            {"algorithm": f"not a {task} algorithm"},
        )
    return est
