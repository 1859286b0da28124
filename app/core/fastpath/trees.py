"""Exact tree ensembles: `compile_trees(estimator)` turns a fitted DecisionTree,
RandomForest, ExtraTrees, GradientBoosting or HistGradientBoosting classifier or
regressor into a `FinalStage` whose answers are scikit-learn's, bit for bit.

The leaves are summed by the trees compiled to C (`native_trees`) where a C compiler is
at hand, the family casts its rows to float32 and the ensemble is small enough; else by
onnxruntime (`onnx_graph`, in a session per process: `onnx_session`). What
scikit-learn does before and after the sum follows each family's own rules
(`onnx_families`): the float32 cast of X (all but HistGB), the baseline summed first, the
division by the number of trees, the label tie rules and the loss's own link functions.
`probe_rows` (`onnx_probes`) gives the rows where a wrong compilation would show."""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Matrix, Unsupported
from app.core.fastpath.native_trees import NativeSums
from app.core.fastpath.onnx_families import Ensemble, adapter_for
from app.core.fastpath.onnx_graph import build_model, constant_tree
from app.core.fastpath.onnx_probes import probe_rows
from app.core.fastpath.onnx_session import LazySession

log = logging.getLogger(__name__)

# the library versions these families were verified with, bit for bit (the unit tests)
TESTED_VERSIONS = {
    "scikit-learn": "1.9.1",
    "onnx": "1.23.2",
    "onnxruntime": "1.31.1",
    "treelite": "4.1.2",
    "tl2cgen": "1.0.0",
    "gcc": "12.2",
}

# the smallest float64 that rounds to infinity as float32 (2**128 - 2**103, the midpoint
# above float32's largest value, rounds to even: up)
_FLOAT32_OVERFLOW = float(2**128 - 2**103)


class OnnxSums:
    """The trees' leaf sums, (n, n_targets) float64, from an onnxruntime session."""

    engine = "onnxruntime"

    def __init__(self, ensemble: Ensemble, n_features: int) -> None:
        trees = ensemble.trees
        if ensemble.baseline is not None:
            trees = [constant_tree(ensemble.baseline), *trees]
        self.model = build_model(trees, n_features, ensemble.n_targets, ensemble.float32_input)
        self.session = LazySession(self.model)

    def run(self, X: npt.NDArray[np.floating[Any]]) -> Matrix:
        return self.session.run(X)


Sums = OnnxSums | NativeSums


def _sums(ensemble: Ensemble, n_features: int, native: bool) -> Sums:
    """Compiled C where it may serve, onnxruntime otherwise (the reason logged)."""
    if native and ensemble.float32_input:
        try:
            return NativeSums(ensemble.trees, ensemble.baseline, n_features, ensemble.n_targets)
        except Unsupported as exc:
            log.info("trees not compiled to C (%s): onnxruntime sums them", exc)
    return OnnxSums(ensemble, n_features)


class TreeStage:
    """A compiled tree ensemble. It answers as scikit-learn does when it serves (its
    finiteness checks skipped: values beyond float32 become infinities) and refuses NaN
    where the estimator takes no missing values."""

    def __init__(
        self, ensemble: Ensemble, n_features: int, allow_nan: bool, *, native: bool = True
    ) -> None:
        self.sums = _sums(ensemble, n_features, native)
        self.engine = self.sums.engine
        self.n_features = n_features
        self.allow_nan = allow_nan
        self._ensemble = ensemble

    def _input(self, X: Matrix) -> npt.NDArray[np.floating[Any]]:
        """X as the graph takes it (float32 where scikit-learn casts it)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X has shape {X.shape}, expected (n, {self.n_features})")
        if not self._ensemble.float32_input:
            return np.ascontiguousarray(X)  # HistGradientBoosting takes NaN and infinities
        # one pass for the usual case: every value finite and within float32's range
        if not (np.abs(X) < _FLOAT32_OVERFLOW).all():
            if np.isnan(X).any() and not self.allow_nan:
                raise ValueError("Input X contains NaN.")
        # As served (assume_finite), scikit-learn casts a value beyond float32's range to
        # an infinity and predicts with it; so does this cast.
        with np.errstate(over="ignore"):
            return np.ascontiguousarray(X, dtype=np.float32)

    def raw(self, X: Matrix) -> Matrix:
        """The sums of the leaves, (n, n_targets), as scikit-learn's raw predictions."""
        graph_input = self._input(X)
        if len(graph_input) == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
        return self.sums.run(graph_input)

    def predict(self, X: Matrix) -> npt.NDArray[np.generic]:
        return self._ensemble.predict(self.raw(X))

    def predict_proba(self, X: Matrix) -> Matrix:
        finish = self._ensemble.predict_proba
        if finish is None:
            raise AttributeError("a regressor has no predict_proba")
        return np.asarray(finish(self.raw(X)), dtype=np.float64)

    def probe_rows(self) -> Matrix:
        rows = probe_rows(
            self._ensemble.trees, self.n_features, self._ensemble.float32_input, self.allow_nan
        )
        return rows[self._accepted(rows)]

    def _accepted(self, rows: Matrix) -> npt.NDArray[np.bool_]:
        if not self._ensemble.float32_input:
            return np.ones(len(rows), dtype=np.bool_)
        with np.errstate(over="ignore"):
            return np.asarray(~np.isinf(rows.astype(np.float32)).any(axis=1))


def _accepts_nan(estimator: Any, n_features: int) -> bool:
    """Whether scikit-learn predicts on NaN for this fitted estimator (its rules depend
    on the class, the splitter, the criterion and monotonic constraints): asked of it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "fitted with feature names"
            estimator.predict(np.full((1, n_features), np.nan))
    except ValueError:
        return False
    return True


def compile_trees(estimator: Any, *, native: bool = True) -> TreeStage:
    """The compiled form of a fitted tree ensemble, or `Unsupported(reason)`; `native`
    false keeps it on onnxruntime."""
    adapter = adapter_for(estimator)
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int):
        raise Unsupported(f"{type(estimator).__name__} is not fitted")
    ensemble = adapter(estimator)
    return TreeStage(ensemble, n_features, _accepts_nan(estimator, n_features), native=native)
