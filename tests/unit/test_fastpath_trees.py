"""Compiled tree ensembles (app/core/fastpath/trees.py) against scikit-learn itself:
every family x task, with and without missing values, on both engines (trees compiled
to C and onnxruntime), bit for bit (`np.array_equal`) on the probe rows, random rows,
the training rows and batches of 1, 2, 3, 17, 256 and 1000 rows; the probes' coverage
and power; what is refused; fork and threads."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.dummy import DummyClassifier
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
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from app.core.fastpath.contract import Unsupported
from app.core.fastpath.trees import compile_trees
from tests.conftest import need_c_compiler

BATCH_SIZES = (1, 2, 3, 17, 256, 1000)
ENGINES = ("native", "onnxruntime")

CLASSIFIERS = {
    "decision_tree": DecisionTreeClassifier(random_state=0),
    "random_forest": RandomForestClassifier(n_estimators=8, random_state=0),
    "extra_trees": ExtraTreesClassifier(n_estimators=8, random_state=0),
    "gradient_boosting": GradientBoostingClassifier(n_estimators=15, random_state=0),
    "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=15, random_state=0),
}
REGRESSORS = {
    "decision_tree": DecisionTreeRegressor(max_depth=8, random_state=0),
    "random_forest": RandomForestRegressor(n_estimators=8, max_depth=8, random_state=0),
    "extra_trees": ExtraTreesRegressor(n_estimators=8, max_depth=8, random_state=0),
    "gradient_boosting": GradientBoostingRegressor(n_estimators=15, random_state=0),
    "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=15, random_state=0),
}
# GradientBoosting takes no missing values (scikit-learn refuses NaN in fit and predict)
TAKES_NAN = {"decision_tree", "random_forest", "extra_trees", "hist_gradient_boosting"}


def dataset(task: str, with_nan: bool) -> tuple[np.ndarray, np.ndarray]:
    loader = {"binary": load_breast_cancer, "multiclass": load_iris, "regression": load_diabetes}
    X, y = loader[task](return_X_y=True)
    X = X.copy()
    if with_nan:
        X[np.random.default_rng(1).random(X.shape) < 0.15] = np.nan
    return X, y


def random_rows(X: np.ndarray, n: int, with_nan: bool) -> np.ndarray:
    rng = np.random.default_rng(2)
    lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    span = hi - lo
    rows = rng.uniform(lo - 0.1 * span, hi + 0.1 * span, size=(n, X.shape[1]))
    if with_nan:
        rows[rng.random(rows.shape) < 0.2] = np.nan
    return rows


def assert_same_answers(est, stage, rows: np.ndarray) -> None:
    assert np.array_equal(stage.predict(rows), est.predict(rows))
    if hasattr(est, "predict_proba"):
        assert np.array_equal(stage.predict_proba(rows), est.predict_proba(rows))


def cases():
    for task in ("binary", "multiclass", "regression"):
        family = REGRESSORS if task == "regression" else CLASSIFIERS
        for name in family:
            for with_nan in (False, True) if name in TAKES_NAN else (False,):
                yield pytest.param(task, name, with_nan, id=f"{name}-{task}-nan{with_nan}")


def expected_engine(name: str, engine: str) -> str:
    """HistGradientBoosting compares float64 rows: onnxruntime sums its trees either way."""
    return "onnxruntime" if name == "hist_gradient_boosting" else engine


@pytest.fixture(scope="module")
def fitted():
    cache: dict[tuple[str, str, bool, str], tuple] = {}

    def fit(task: str, name: str, with_nan: bool, engine: str = "onnxruntime"):
        key = (task, name, with_nan, engine)
        if engine == "native":
            need_c_compiler()
        if key not in cache:
            X, y = dataset(task, with_nan)
            family = REGRESSORS if task == "regression" else CLASSIFIERS
            est = clone(family[name]).fit(X, y)
            stage = compile_trees(est, native=engine == "native")
            assert stage.engine == expected_engine(name, engine)
            cache[key] = (X, est, stage)
        return cache[key]

    return fit


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("task", "name", "with_nan"), list(cases()))
def test_compiled_answers_equal_scikit_learn_bit_for_bit(fitted, task, name, with_nan, engine):
    X, est, stage = fitted(task, name, with_nan, engine)
    probes = stage.probe_rows()
    assert len(probes) > 0
    if with_nan:
        assert np.isnan(probes).any()
    rows = np.concatenate([probes, random_rows(X, 1000, with_nan), X])
    assert_same_answers(est, stage, rows)
    rng = np.random.default_rng(3)
    for size in BATCH_SIZES:
        for start in rng.integers(0, len(rows) - size, size=3 if size > 1 else 12):
            assert_same_answers(est, stage, rows[start : start + size])


@pytest.mark.parametrize("with_nan", [False, True])
@pytest.mark.parametrize("name", ["decision_tree", "random_forest", "extra_trees"])
def test_probe_rows_reach_every_split_node_at_its_threshold_neighbours(fitted, name, with_nan):
    _, est, stage = fitted("multiclass", name, with_nan)
    probes = stage.probe_rows()
    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    for tree in trees:
        t = tree.tree_
        reached = tree.decision_path(probes).toarray().astype(bool)
        for node in np.flatnonzero(t.children_left >= 0):
            at_node = probes[reached[:, node], t.feature[node]]
            threshold = t.threshold[node]
            above = np.nextafter(np.float32(threshold), np.float32(np.inf))
            assert len(at_node) > 0, node
            # an infinite threshold (missing against the rest) has no finite neighbours
            for value in (threshold, np.nextafter(threshold, np.inf), float(above)):
                assert value in at_node or not np.isfinite(threshold), (node, value)
            # these trees take NaN even when fitted without it: where a row with the
            # feature missing can reach the node, the probes hold one
            missing = probes[reached[:, node]].copy()
            missing[:, t.feature[node]] = np.nan
            if tree.decision_path(missing).toarray()[:, node].any():
                assert np.isnan(at_node).any(), node


def test_probe_rows_catch_a_missing_float32_cast_and_flipped_missing_directions():
    import dataclasses

    from app.core.fastpath.onnx_families import adapter_for
    from app.core.fastpath.trees import TreeStage

    X, y = dataset("binary", with_nan=True)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    ensemble = adapter_for(forest)(forest)
    probes = compile_trees(forest).probe_rows()
    no_cast = TreeStage(dataclasses.replace(ensemble, float32_input=False), X.shape[1], True)
    assert not np.array_equal(no_cast.predict_proba(probes), forest.predict_proba(probes))
    flipped = [dataclasses.replace(t, missing_left=~t.missing_left) for t in ensemble.trees]
    need_c_compiler()
    for engine in ENGINES:
        wrong = TreeStage(
            dataclasses.replace(ensemble, trees=flipped),
            X.shape[1],
            True,
            native=engine == "native",
        )
        assert wrong.engine == engine
        assert not np.array_equal(wrong.predict_proba(probes), forest.predict_proba(probes))

    hgb = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    ensemble = adapter_for(hgb)(hgb)
    flipped = [dataclasses.replace(t, missing_left=~t.missing_left) for t in ensemble.trees]
    wrong = TreeStage(dataclasses.replace(ensemble, trees=flipped), X.shape[1], True)
    probes = compile_trees(hgb).probe_rows()
    assert not np.array_equal(wrong.predict_proba(probes), hgb.predict_proba(probes))


def test_probes_of_different_trees_share_rows(fitted):
    from app.core.fastpath import onnx_probes

    _, forest, stage = fitted("binary", "random_forest", True)
    ensemble_trees = stage._ensemble.trees
    needs = [onnx_probes._tree_needs(t, 30, True, True) for t in ensemble_trees]
    n_probes = sum(len(n) for nodes in needs for n in nodes)
    largest_tree = max(sum(len(n) for n in nodes) for nodes in needs)
    rows = stage.probe_rows()
    assert largest_tree <= len(rows) < n_probes / 2


def test_a_forest_too_big_for_every_variant_still_covers_every_node():
    from app.core.fastpath import onnx_probes

    X, y = dataset("regression", with_nan=False)
    forest = RandomForestRegressor(n_estimators=30, random_state=0).fit(X, y)
    n_split = sum(int((e.tree_.children_left >= 0).sum()) for e in forest.estimators_)
    assert 7 * n_split > onnx_probes.ALL_VARIANTS_UP_TO
    probes = compile_trees(forest).probe_rows()
    assert len(probes) <= n_split
    for tree in forest.estimators_:
        reached = tree.decision_path(probes).toarray().any(axis=0)
        assert reached[tree.tree_.children_left >= 0].all()
    assert np.array_equal(compile_trees(forest).predict(probes), forest.predict(probes))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_constant_tree_and_a_single_stump_compile_exactly(engine):
    if engine == "native":
        need_c_compiler()
    X = np.arange(20, dtype=float).reshape(10, 2)
    for est in (
        DecisionTreeRegressor().fit(X, np.ones(10)),
        DecisionTreeClassifier().fit(X, [1] * 10),
    ):
        stage = compile_trees(est, native=engine == "native")
        assert stage.engine == engine
        assert_same_answers(est, stage, X)
    # constant features: every HistGradientBoosting tree is a leaf, only the baseline moves
    hgb = HistGradientBoostingClassifier(max_iter=3).fit(np.ones((40, 2)), np.arange(40) % 3)
    assert len(compile_trees(hgb).probe_rows()) == 0
    assert_same_answers(hgb, compile_trees(hgb), random_rows(X, 50, with_nan=True))
    gb = GradientBoostingClassifier(n_estimators=3, max_depth=1).fit(X, [0, 1, 2, 0, 1] * 2)
    gb_stage = compile_trees(gb, native=engine == "native")
    assert gb_stage.engine == engine
    assert_same_answers(gb, gb_stage, random_rows(X, 50, with_nan=False))


def refused_estimators():
    X, y = dataset("binary", with_nan=False)
    yb = (y > 0).astype(int)
    X2, y2 = dataset("regression", with_nan=False)
    small = {"n_estimators": 2, "random_state": 0}

    class MyForest(RandomForestClassifier):
        pass

    return [
        (GradientBoostingClassifier(loss="exponential", **small).fit(X, yb), "loss"),
        (GradientBoostingClassifier(init=DummyClassifier(), **small).fit(X, yb), "init"),
        (GradientBoostingRegressor(loss="huber", **small).fit(X2, y2), "loss"),
        (
            HistGradientBoostingRegressor(loss="poisson", max_iter=2).fit(X2, y2 - y2.min() + 1),
            "loss",
        ),
        (
            HistGradientBoostingClassifier(categorical_features=[0], max_iter=2).fit(
                np.c_[np.arange(len(X)) % 4, X[:, 1:]], yb
            ),
            "categorical",
        ),
        (RandomForestClassifier(n_jobs=2, **small).fit(X, yb), "n_jobs"),
        (RandomForestRegressor(**small).fit(X2, np.c_[y2, y2]), "outputs"),
        (MyForest(**small).fit(X, yb), "no compiled form for"),
        (LogisticRegression(max_iter=50).fit(X[:, :3], yb), "no compiled form for"),
        (RandomForestClassifier(), "not fitted"),
    ]


@pytest.mark.parametrize(("est", "reason"), refused_estimators(), ids=lambda v: str(v)[:40])
def test_what_is_not_reproduced_exactly_is_unsupported_with_a_reason(est, reason):
    with pytest.raises(Unsupported, match=reason):
        compile_trees(est)


@pytest.mark.parametrize("engine", ENGINES)
def test_it_answers_and_refuses_input_as_scikit_learn_does_when_serving(fitted, engine):
    X, gb, gb_stage = fitted("binary", "gradient_boosting", False, engine)
    _, forest, forest_stage = fitted("binary", "random_forest", True, engine)
    _, hgb, hgb_stage = fitted("binary", "hist_gradient_boosting", True)
    nan_row = np.where(np.arange(X.shape[1]) == 3, np.nan, X[0])[None, :]
    for est, stage in ((gb, gb_stage),):
        with pytest.raises(ValueError):
            est.predict(nan_row)
        with pytest.raises(ValueError, match="NaN"):
            stage.predict(nan_row)
    # values beyond float32: scikit-learn as served (assume_finite, as LoadedModel calls
    # it) casts them to infinities and predicts; the stage answers the same
    huge = np.repeat(X[:1], 3, axis=0)
    huge[:, 3] = [1e39, -1e300, np.finfo(np.float64).max]
    for est, stage in ((gb, gb_stage), (forest, forest_stage)):
        with np.errstate(over="ignore"), sklearn.config_context(assume_finite=True):
            assert np.array_equal(est.predict(huge), stage.predict(huge))
            assert np.array_equal(est.predict_proba(huge), stage.predict_proba(huge))
    # HistGradientBoosting compares float64 values: it takes huge values and infinities
    extreme = np.repeat(X[:1], 4, axis=0)
    extreme[:, 3] = [1e39, np.inf, -np.inf, np.finfo(np.float64).max]
    assert_same_answers(hgb, hgb_stage, extreme)
    with pytest.raises(ValueError, match="0 sample"):
        forest_stage.predict(X[:0])
    with pytest.raises(AttributeError):
        fitted("regression", "random_forest", False)[2].predict_proba(X[:1, :10])


@pytest.mark.parametrize("engine", ENGINES)
def test_one_stage_answers_from_several_threads_at_once(fitted, engine):
    X, est, stage = fitted("multiclass", "random_forest", True, engine)
    rows = random_rows(X, 2000, with_nan=True)
    expected = est.predict_proba(rows)
    chunks = np.array_split(rows, 64)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(stage.predict_proba, chunks))
    assert np.array_equal(np.concatenate(answers), expected)


FORK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, os, sys
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from app.core.fastpath.trees import compile_trees

    X, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    stage = compile_trees(forest, native=sys.argv[1] == "native")
    assert stage.engine == sys.argv[1], stage.engine
    # what gunicorn's master may do: compile, and never import onnxruntime
    assert "onnxruntime" not in sys.modules, "compile_trees imported onnxruntime"
    pid = os.fork()
    if pid == 0:
        ok = np.array_equal(stage.predict_proba(X), forest.predict_proba(X))
        sys.exit(0 if ok else 3)  # a normal interpreter exit, as a gunicorn worker's
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_worker_forked_after_compile_predicts_exactly_and_exits(engine):
    if engine == "native":
        need_c_compiler()
    # a subprocess: this test session may have imported onnxruntime already, and a
    # child forked after that import hangs at exit (see docs/performance.md)
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, engine], timeout=120, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def _predict_in_child(stage, rows, queue):
    proba = stage.predict_proba(rows)
    queue.put((stage.sums.session._pid, proba))


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_session_made_before_fork_is_not_reused_in_the_child(fitted):
    X, est, stage = fitted("multiclass", "gradient_boosting", False)
    stage.predict(X[:1])
    parent_session = stage.sums.session._pid
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_predict_in_child, args=(stage, X, queue))
    child.start()
    child_pid, proba = queue.get(timeout=60)
    child.join(60)
    assert child.exitcode == 0
    assert child_pid == child.pid != parent_session
    assert np.array_equal(proba, est.predict_proba(X))


def test_a_model_fitted_on_a_dataframe_compiles_without_warnings():
    import pandas as pd

    X, y = dataset("multiclass", with_nan=False)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    for est in (RandomForestClassifier(n_estimators=3), GradientBoostingClassifier(n_estimators=3)):
        est.fit(frame, y)
        stage = compile_trees(est)  # warnings are errors in this suite
        assert np.array_equal(stage.predict_proba(X), est.predict_proba(frame))


def test_a_compiler_that_fails_leaves_the_trees_on_onnxruntime(monkeypatch, tmp_path):
    """A C compiler that cannot build the library (here: one that always fails) is a
    reason to sum on onnxruntime, not to leave the version on scikit-learn."""
    from app.core.fastpath import native_trees

    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: no headers' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setattr(native_trees, "COMPILER", str(failing))
    X, y = dataset("multiclass", with_nan=False)
    forest = RandomForestClassifier(n_estimators=3, random_state=7).fit(X, y)
    stage = compile_trees(forest)
    assert stage.engine == "onnxruntime"
    assert_same_answers(forest, stage, X)


def test_an_ensemble_compiled_moments_ago_is_not_compiled_again(monkeypatch):
    """A registration proves a version, then loads it: gcc runs once, though the proof's
    stage is gone by the time the version loads."""
    import tl2cgen

    from app.core.fastpath import native_trees

    need_c_compiler()
    monkeypatch.setattr(native_trees, "_libraries", native_trees.OrderedDict())
    compiles = []
    real_export = tl2cgen.export_lib
    monkeypatch.setattr(
        tl2cgen, "export_lib", lambda *a, **k: compiles.append(1) or real_export(*a, **k)
    )
    X, y = dataset("multiclass", with_nan=False)
    forest = RandomForestClassifier(n_estimators=4, random_state=11).fit(X, y)
    proof = compile_trees(forest)
    assert proof.engine == "native" and compiles == [1]
    del proof
    assert_same_answers(forest, compile_trees(forest), X)
    assert compiles == [1]
    # beyond the bound the least recently used library is let go
    monkeypatch.setattr(native_trees, "KEPT_LIBRARIES", 1)
    other = RandomForestClassifier(n_estimators=4, random_state=12).fit(X, y)
    kept = compile_trees(other)
    assert compiles == [1, 1] and len(native_trees._libraries) == 1
    assert_same_answers(other, kept, X)
