"""Proof before service: a compiled predictor serves a version only if it answers
exactly what scikit-learn answers (`np.array_equal`, same dtype) on the probe set, in
every batch size tried. The structure gate (exact class whitelist, library versions in
the tested range, single output) is the compilers' and `check_libraries`'s job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import sklearn

from app.core.fastpath.compiler import CompiledPredictor, compile_predictor
from app.core.fastpath.contract import Unsupported
from app.core.fastpath.probes import probe_matrix
from app.core.runtime import LoadedModel, final_estimator, unverified

BATCH_SIZES = (1, 2, 3, 17, 256, 1000)
SHORT_BATCH_SIZES = (1, 3, 17)  # the per-process re-check of a stored verdict
# major.minor of the libraries whose expressions the compilers replay, as tested
TESTED_LIBRARIES = {"scikit-learn": ("1.9",), "numpy": ("2.2", "2.3", "2.4")}


def library_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "scikit-learn": sklearn.__version__}


def check_libraries() -> None:
    for name, version in library_versions().items():
        if ".".join(version.split(".")[:2]) not in TESTED_LIBRARIES[name]:
            raise Unsupported(
                f"{name} {version} is outside the tested range "
                f"({', '.join(TESTED_LIBRARIES[name])}): the replayed expressions may differ"
            )


def compile_for(model: LoadedModel) -> CompiledPredictor:
    check_libraries()
    numeric = [f["type"] == "numeric" for f in model.schema.features]
    return compile_predictor(model.estimator, numeric, takes_frame=model.wants_frame)


def _batches(pool: np.ndarray, sizes: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Each size as a batch of probe rows: in order, then shuffled (a row's neighbours
    can change BLAS's blocking), and the whole pool at once."""
    rng = np.random.default_rng(0)
    yield pool
    for size in sizes:
        yield pool[np.arange(size) % len(pool)]
        yield pool[rng.integers(0, len(pool), size)]


def _differs(name: str, expected: np.ndarray | None, got: np.ndarray | None) -> str | None:
    if expected is None and got is None:
        return None
    if expected is None or got is None:
        return f"{name}: one engine gave none"
    expected, got = np.asarray(expected), np.asarray(got)
    if expected.dtype != got.dtype:
        return f"{name}: dtype {got.dtype} instead of {expected.dtype}"
    equal_nan = expected.dtype.kind in "fc"
    if expected.shape != got.shape or not np.array_equal(expected, got, equal_nan=equal_nan):
        bad = (
            int((expected != got).any(axis=tuple(range(1, expected.ndim))).sum())
            if expected.shape == got.shape
            else len(expected)
        )
        return f"{name} differ from scikit-learn's on {bad} of {len(expected)} rows"
    return None


def _compare_batch(
    model: LoadedModel, compiled: CompiledPredictor, batch: np.ndarray, proba: bool
) -> str | None:
    try:
        expected = model.sklearn_outputs(batch, proba)
    except Exception as exc:  # noqa: BLE001 - scikit-learn refuses these rows
        refused = f"{type(exc).__name__}: {str(exc)[:200]}"
        try:
            LoadedModel.compiled_outputs(compiled, batch, proba)
        except Exception:  # noqa: BLE001 - refused by both: scikit-learn answers the error
            return None
        return f"scikit-learn refuses rows that the compiled predictor answers ({refused})"
    try:
        got = LoadedModel.compiled_outputs(compiled, batch, proba)
    except Exception as exc:  # noqa: BLE001 - any failure keeps scikit-learn serving
        return f"the compiled predictor failed: {type(exc).__name__}: {str(exc)[:200]}"
    what = "predictions" if model.task == "regression" else "labels"
    return _differs(what, expected[0], got[0]) or _differs("probabilities", expected[1], got[1])


def _compare_final_stage(model: LoadedModel, compiled: CompiledPredictor) -> str | None:
    """The final stage's own probe rows (tree thresholds and their neighbours), compared
    with scikit-learn's final estimator on the same transformed matrix."""
    rows = compiled.final.probe_rows()
    if len(rows) == 0:
        return None
    est = final_estimator(model.estimator)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        reason = _differs("final-stage labels", est.predict(rows), compiled.final.predict(rows))
        if reason is None and model.has_proba:
            reason = _differs(
                "final-stage probabilities",
                est.predict_proba(rows),
                compiled.final.predict_proba(rows),
            )
    return reason


def probe(
    model: LoadedModel, compiled: CompiledPredictor, sizes: tuple[int, ...] = BATCH_SIZES
) -> tuple[str | None, int]:
    """(the first difference found or None, the number of rows compared)."""
    pool = probe_matrix(model.schema)
    compared = 0
    for batch in _batches(pool, sizes):
        reason = _compare_batch(model, compiled, batch, model.has_proba)
        if reason is None and model.has_proba:  # predict alone takes another path
            reason = _compare_batch(model, compiled, batch, False)
        if reason is not None:
            return f"{reason} (a batch of {len(batch)})", compared
        compared += len(batch)
    if sizes == BATCH_SIZES:
        reason = _compare_final_stage(model, compiled)
        if reason is not None:
            return reason, compared
    return None, compared


def verify(
    model: LoadedModel, sizes: tuple[int, ...] = BATCH_SIZES
) -> tuple[dict[str, Any], CompiledPredictor | None]:
    """(the verdict, the compiled predictor when proven). The verdict is
    {"engine", "verified", "reason"} plus what it was proven with."""
    try:
        compiled = compile_for(model)
    except Unsupported as exc:
        return unverified(str(exc)), None
    except Exception as exc:  # noqa: BLE001 - a fitted object the compilers misread
        return unverified(f"could not compile: {type(exc).__name__}: {str(exc)[:200]}"), None
    reason, compared = probe(model, compiled, sizes)
    if reason is not None:
        return unverified(reason), None
    verdict = {
        "engine": compiled.engine,
        "verified": True,
        "reason": f"bitwise equal to scikit-learn on {compared} probe rows",
    }
    return verdict, compiled
