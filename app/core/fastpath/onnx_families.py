"""What each supported scikit-learn tree family contributes to a compiled ensemble: its
trees and leaf weights, its baseline, whether it casts X to float32, and the steps after
the sum, each copied from that family's own `predict` / `predict_proba` (sklearn 1.9.1).

The whitelist is exact (`type(est) is ...`); a fitted state that is not reproduced here
(another loss, an `init` estimator, native categorical splits, multi-output, trees
predicted in parallel) raises `Unsupported` with the reason."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from app.core.fastpath.contract import Matrix, Unsupported
from app.core.fastpath.onnx_graph import Tree

Finish = Callable[[Matrix], npt.NDArray[np.generic]]


@dataclass
class Ensemble:
    """What a family adapter reads off a fitted estimator."""

    trees: list[Tree]  # the fitted trees, in scikit-learn's summing order
    baseline: npt.NDArray[np.float64] | None  # summed before the trees, one per target
    n_targets: int
    float32_input: bool
    predict: Finish  # raw sums (n, n_targets) -> what scikit-learn's predict answers
    predict_proba: Finish | None  # ... -> predict_proba; None for regressors


def _sk_tree(tree: Any, values: npt.NDArray[np.float64], targets: tuple[int, ...]) -> Tree:
    """A `sklearn.tree._tree.Tree` (node 0 the root, children -1 on leaves)."""
    return Tree(
        feature=np.asarray(tree.feature, dtype=np.int64),
        threshold=np.asarray(tree.threshold, dtype=np.float64),
        left=np.asarray(tree.children_left, dtype=np.int64),
        right=np.asarray(tree.children_right, dtype=np.int64),
        missing_left=np.asarray(tree.missing_go_to_left, dtype=np.bool_),
        values=values,
        targets=targets,
    )


def _single_output(est: Any) -> None:
    if getattr(est, "n_outputs_", 1) != 1:
        raise Unsupported(f"{type(est).__name__} has {est.n_outputs_} outputs")


def _labels(classes: npt.NDArray[np.generic]) -> Finish:
    return lambda scores: classes.take(np.argmax(scores, axis=1), axis=0)


def _class_values(est: Any, tree: Any) -> npt.NDArray[np.float64]:
    n_classes = len(est.classes_)
    if tree.value.shape[2] != n_classes:
        raise Unsupported(f"a tree of {type(est).__name__} knows {tree.value.shape[2]} classes")
    return np.asarray(tree.value[:, 0, :], dtype=np.float64)


def _decision_tree(est: Any) -> Ensemble:
    _single_output(est)
    if isinstance(est, DecisionTreeClassifier):
        values = _class_values(est, est.tree_)
        n = values.shape[1]
        tree = _sk_tree(est.tree_, values, tuple(range(n)))
        return Ensemble([tree], None, n, True, _labels(est.classes_), lambda raw: raw)
    tree = _sk_tree(est.tree_, np.asarray(est.tree_.value[:, 0, :1], np.float64), (0,))
    return Ensemble([tree], None, 1, True, lambda raw: raw[:, 0].copy(), None)


def _forest(est: Any) -> Ensemble:
    _single_output(est)
    if est.n_jobs not in (None, 1):
        # several jobs add the trees in the order they finish: scikit-learn's own last
        # bits then vary from call to call
        raise Unsupported(f"{type(est).__name__} predicts with n_jobs={est.n_jobs}")
    n_trees = len(est.estimators_)
    if isinstance(est, (RandomForestClassifier, ExtraTreesClassifier)):
        n = len(est.classes_)
        targets = tuple(range(n))
        trees = [_sk_tree(e.tree_, _class_values(est, e.tree_), targets) for e in est.estimators_]

        def proba(raw: Matrix) -> Matrix:
            return raw / n_trees

        labels = _labels(est.classes_)
        return Ensemble(trees, None, n, True, lambda raw: labels(proba(raw)), proba)
    trees = [
        _sk_tree(e.tree_, np.asarray(e.tree_.value[:, 0, :1], np.float64), (0,))
        for e in est.estimators_
    ]
    return Ensemble(trees, None, 1, True, lambda raw: raw[:, 0] / n_trees, None)


def _gradient_boosting(est: Any) -> Ensemble:
    classifier = isinstance(est, GradientBoostingClassifier)
    default_loss = "log_loss" if classifier else "squared_error"
    if est.loss != default_loss:
        raise Unsupported(f"{type(est).__name__} with loss={est.loss!r}")
    if est.init is not None and not (isinstance(est.init, str) and est.init == "zero"):
        raise Unsupported(f"{type(est).__name__} with an init estimator")
    baseline = None
    if not (isinstance(est.init_, str) and est.init_ == "zero"):
        # the prior / mean: the same for every row
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "fitted with feature names"
            row = np.zeros((1, est.n_features_in_))
            baseline = np.asarray(est._raw_predict_init(row)[0], dtype=np.float64)
    n = est.estimators_.shape[1]
    # predict_stages adds `learning_rate * leaf value`, stage by stage, class by class
    trees = [
        _sk_tree(t.tree_, est.learning_rate * np.asarray(t.tree_.value[:, 0, :1]), (k,))
        for stage in est.estimators_
        for k, t in enumerate(stage)
    ]
    if not classifier:
        return Ensemble(trees, baseline, 1, True, lambda raw: raw.ravel(), None)
    classes, loss = est.classes_, est._loss
    if n == 1:
        return Ensemble(
            trees,
            baseline,
            1,
            True,
            lambda raw: classes[(raw.ravel() >= 0).astype(int)],
            lambda raw: loss.predict_proba(raw.ravel()),
        )
    return Ensemble(
        trees,
        baseline,
        n,
        True,
        lambda raw: classes[np.argmax(raw, axis=1)],
        lambda raw: loss.predict_proba(raw),
    )


def _hgb_tree(predictor: Any, k: int) -> Tree:
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(np.bool_)
    return Tree(
        feature=np.asarray(nodes["feature_idx"], dtype=np.int64),
        threshold=np.asarray(nodes["num_threshold"], dtype=np.float64),
        left=np.where(leaf, -1, nodes["left"].astype(np.int64)),
        right=np.where(leaf, -1, nodes["right"].astype(np.int64)),
        missing_left=nodes["missing_go_to_left"].astype(np.bool_),
        values=np.asarray(nodes["value"], dtype=np.float64).reshape(-1, 1),
        targets=(k,),
    )


def _hist_gradient_boosting(est: Any) -> Ensemble:
    classifier = isinstance(est, HistGradientBoostingClassifier)
    default_loss = "log_loss" if classifier else "squared_error"
    if est.loss != default_loss:
        raise Unsupported(f"{type(est).__name__} with loss={est.loss!r}")
    if est.is_categorical_ is not None and np.any(est.is_categorical_):
        raise Unsupported(f"{type(est).__name__} with native categorical splits")
    if getattr(est, "_preprocessor", None) is not None:
        raise Unsupported(f"{type(est).__name__} encodes categorical columns itself")
    trees = [_hgb_tree(p, k) for iteration in est._predictors for k, p in enumerate(iteration)]
    baseline = np.asarray(est._baseline_prediction, dtype=np.float64).ravel()
    n, loss = est.n_trees_per_iteration_, est._loss
    if not classifier:
        return Ensemble(trees, baseline, 1, False, lambda raw: loss.link.inverse(raw.ravel()), None)
    classes = est.classes_
    # scikit-learn's raw predictions are Fortran-ordered
    proba = lambda raw: loss.predict_proba(np.asfortranarray(raw))  # noqa: E731
    if n == 1:
        # "> 0", not ">= 0": scikit-learn's own binary tie rule for this family
        return Ensemble(
            trees, baseline, 1, False, lambda raw: classes[(raw.ravel() > 0).astype(int)], proba
        )
    return Ensemble(trees, baseline, n, False, lambda raw: classes[np.argmax(raw, axis=1)], proba)


_ADAPTERS: dict[type, Callable[[Any], Ensemble]] = {
    DecisionTreeClassifier: _decision_tree,
    DecisionTreeRegressor: _decision_tree,
    RandomForestClassifier: _forest,
    RandomForestRegressor: _forest,
    ExtraTreesClassifier: _forest,
    ExtraTreesRegressor: _forest,
    GradientBoostingClassifier: _gradient_boosting,
    GradientBoostingRegressor: _gradient_boosting,
    HistGradientBoostingClassifier: _hist_gradient_boosting,
    HistGradientBoostingRegressor: _hist_gradient_boosting,
}


def adapter_for(estimator: Any) -> Callable[[Any], Ensemble]:
    """The family adapter for exactly this class (subclasses may predict otherwise)."""
    adapter = _ADAPTERS.get(type(estimator))
    if adapter is None:
        raise Unsupported(f"no compiled form for {type(estimator).__name__}")
    return adapter
