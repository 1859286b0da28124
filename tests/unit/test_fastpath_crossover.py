"""Where scikit-learn takes over from a compiled predictor (app/core/fastpath/crossover.py):
the crossing of the two cost lines, a real forest timed in this process, and the calls
beyond the limit answered by scikit-learn with the same answers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from app.core.fastpath import crossover, engine
from app.core.registry import describe_estimator
from app.core.runtime import LoadedModel
from app.core.schema import CompiledSchema, derive_schema
from tests.conftest import need_c_compiler

X, Y = load_breast_cancer(return_X_y=True)


def loaded(est) -> LoadedModel:
    task, classes = describe_estimator(est)
    return LoadedModel("m", 1, task, est, CompiledSchema.from_doc(derive_schema(est)), classes)


def timed(compiled_per_call, compiled_per_row, sklearn_per_call, sklearn_per_row, sizes):
    """Timings as crossover.compiled_max_rows records them, from two cost lines."""
    return [
        (n, compiled_per_call + compiled_per_row * n, sklearn_per_call + sklearn_per_row * n)
        for n in sizes
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # compiled: 10 us a call + 3 us a row; scikit-learn: 3,000 us + 1 us a row:
        # they meet at 1,495 rows, between the timed 1,024 and 2,048
        ((10e-6, 3e-6, 3000e-6, 1e-6), 1495),
        # cheaper per row as well: never handed over
        ((10e-6, 1e-6, 3000e-6, 2e-6), None),
        # slower from the smallest size: single rows stay compiled (they were proven)
        ((5e-3, 3e-6, 1e-3, 1e-6), 1),
    ],
)
def test_the_limit_is_where_scikit_learn_first_becomes_faster(lines, expected):
    sizes = list(crossover.SIZES)
    timings = timed(*lines, sizes)
    first_slower = next((i for i, (_, c, s) in enumerate(timings) if c > s), None)
    timings = timings if first_slower is None else timings[: first_slower + 1]
    assert crossover.crossing(timings) == expected


def test_beyond_the_largest_size_the_cost_lines_are_extended():
    # they meet at 9,990 rows, beyond the 4,096 timed
    timings = timed(10e-6, 2e-6, 10e-3, 1e-6, crossover.SIZES)
    assert crossover.crossing(timings) == 9990


def test_a_forest_is_handed_to_scikit_learn_beyond_its_measured_limit(monkeypatch):
    monkeypatch.setenv("FAST_PATH_NATIVE", "off")  # onnxruntime sums the trees
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, Y)
    model = loaded(forest)
    engine.select_engine(model, None, "abc", enabled=True)
    assert model.engine == "onnxruntime"
    limit = model.compiled_max_rows
    # one-thread sums cost more per row than scikit-learn's: the lines cross somewhere
    assert limit is not None and limit >= 1

    seen = []
    model.on_engine = lambda name, version, eng, rows: seen.append(eng)
    small, large = X[: min(limit, len(X))], np.resize(X, (limit + 1, X.shape[1]))
    for rows in (small, large):
        out = model.predict(rows, True)
        assert out["predictions"] == forest.predict(rows).tolist()
        assert out["probabilities"] == forest.predict_proba(rows).tolist()
    assert seen == ["onnxruntime", "sklearn"]


def test_trees_compiled_to_c_are_timed_and_serve_up_to_their_limit():
    need_c_compiler()
    forest = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, Y)
    model = loaded(forest)
    engine.select_engine(model, None, "abc", enabled=True)
    assert model.engine == "native"
    limit = model.compiled_max_rows  # None: faster than scikit-learn at every size timed
    largest = crossover.SIZES[-1] + 1 if limit is None else limit
    seen = []
    model.on_engine = lambda name, version, eng, rows: seen.append(eng)
    for rows in (X[:1], np.resize(X, (largest, X.shape[1]))):
        out = model.predict(rows, True)
        assert out["predictions"] == forest.predict(rows).tolist()
        assert out["probabilities"] == forest.predict_proba(rows).tolist()
    assert seen == ["native", "native"]


def test_numpy_stages_are_never_timed_nor_limited(monkeypatch):
    timed = []
    monkeypatch.setattr(engine, "compiled_max_rows", lambda *a: timed.append(a) or 10)
    model = loaded(LogisticRegression(max_iter=5000).fit(X, Y))
    engine.select_engine(model, None, "abc", enabled=True)
    assert model.engine == "numpy" and model.compiled_max_rows is None and timed == []
