"""Linear final estimators replayed in NumPy: scikit-learn 1.9's own expressions
(`X @ coef_.T + intercept_`, scipy's expit, scikit-learn's softmax), on the same shapes,
so that the same BLAS calls give the same bits. `verify` proves it per version."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Matrix, Unsupported

Array = npt.NDArray[Any]


def _as_float(X: Array) -> Array:
    """What validate_data makes of the matrix: float64, no copy when it already is."""
    return X if X.dtype == np.float64 else X.astype(np.float64)


class LinearRegressor:
    """LinearRegression, Ridge, Lasso, ElasticNet: LinearModel._decision_function;
    SGDRegressor: its own `(X @ coef_.T + intercept_).ravel()`."""

    engine = "numpy"

    def __init__(self, est: Any, *, sgd: bool = False):
        coef = np.asarray(est.coef_)
        if coef.ndim == 2 and coef.shape[0] != 1 or coef.ndim > 2:
            raise Unsupported(f"{type(est).__name__} with several outputs is not compiled")
        if coef.ndim == 2 and not sgd:
            raise Unsupported(f"{type(est).__name__} with a 2-d coef_ is not compiled")
        self.coef, self.intercept, self.sgd = coef, est.intercept_, sgd
        self.n_features = coef.shape[-1]

    def predict(self, X: Matrix) -> npt.NDArray[np.generic]:
        X = _as_float(X)
        if self.sgd:
            out: Array = (X @ self.coef.T + self.intercept).ravel()
            return out
        result: Array = X @ self.coef + self.intercept
        return result

    def predict_proba(self, X: Matrix) -> Matrix:
        raise Unsupported("a regressor has no predict_proba")

    def probe_rows(self) -> Matrix:
        return np.empty((0, self.n_features))


class LinearClassifier:
    """LinearClassifierMixin: decision_function, predict; LogisticRegression's
    predict_proba (binary: expit, stacked; multiclass: softmax)."""

    engine = "numpy"

    def __init__(self, est: Any, *, proba: bool):
        coef = np.asarray(est.coef_)
        if coef.ndim not in (1, 2):
            raise Unsupported(f"{type(est).__name__} with a {coef.ndim}-d coef_ is not compiled")
        self.coef_T = coef.T if coef.ndim == 2 else coef
        self.intercept = est.intercept_
        self.classes = est.classes_
        if self.classes.ndim != 1:
            raise Unsupported(f"{type(est).__name__} with several outputs is not compiled")
        self.proba = proba
        self.n_features = coef.shape[-1]

    def decision_function(self, X: Array) -> Array:
        scores: Array = _as_float(X) @ self.coef_T + self.intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape((-1,))
        return scores

    def predict(self, X: Matrix) -> npt.NDArray[np.generic]:
        scores = self.decision_function(X)
        if scores.ndim == 1:
            indices = (scores > 0).astype(np.intp)
        else:
            indices = scores.argmax(axis=1)
        labels: npt.NDArray[np.generic] = self.classes.take(indices, axis=0)
        return labels

    def predict_proba(self, X: Matrix) -> Matrix:
        from scipy.special import expit
        from sklearn.utils.extmath import softmax

        if not self.proba:
            raise Unsupported("this classifier has no predict_proba")
        if self.classes.size <= 2:
            prob = self.decision_function(X)
            prob = expit(prob, out=prob)
            stacked: Matrix = np.stack([1 - prob, prob], axis=1)
            return stacked
        out: Matrix = softmax(self.decision_function(X), copy=False)
        return out

    def probe_rows(self) -> Matrix:
        return np.empty((0, self.n_features))


def compile_linear(est: Any) -> LinearRegressor | LinearClassifier:
    """The compiled final stage for an estimator on the exact whitelist (type(est) is
    the class itself: a subclass may override any of it)."""
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

    kind = type(est)
    if kind in (LinearRegression, Ridge, Lasso, ElasticNet):
        return LinearRegressor(est)
    if kind is SGDRegressor:
        return LinearRegressor(est, sgd=True)
    if kind is LogisticRegression:
        return LinearClassifier(est, proba=True)
    if kind is RidgeClassifier:
        return LinearClassifier(est, proba=False)
    if kind is SGDClassifier:
        if est.loss in ("log_loss", "modified_huber"):
            raise Unsupported(f"SGDClassifier(loss={est.loss!r}) probabilities are not compiled")
        return LinearClassifier(est, proba=False)
    raise Unsupported(f"no compiled form for {kind.__name__}")


LINEAR_NAMES = frozenset(
    {
        "LinearRegression",
        "Ridge",
        "Lasso",
        "ElasticNet",
        "SGDRegressor",
        "LogisticRegression",
        "RidgeClassifier",
        "SGDClassifier",
    }
)
