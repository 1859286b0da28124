"""Admission: what an uploaded (or trained) estimator must show before it becomes a
version, so that nothing the registry serves later answers a 500 or a made-up value.

- It answers its own example row: one finite prediction per row (multi-output
  estimators are refused: the API has one prediction per row), and probabilities
  when it offers them.
- The nullable probe: a feature takes missing values only if the whole estimator,
  given the example row with that one feature missing, accepts it and answers
  finitely (predict and, where offered, predict_proba). A schema may claim less
  than the probe proves, never more: the probe can only take `nullable` away, and
  the schema records what it refuted under `nullable_probe`.

scikit-learn's own input checks stay on here (no `assume_finite`): they are what
refuses a NaN that an inner step would otherwise turn into a number.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from app.core.errors import InvalidInput
from app.core.runtime import LoadedModel
from app.core.schema import CompiledSchema, SchemaDoc

PROBE_KEY = "nullable_probe"
PROBE_VERSION = 1


def admit(estimator: Any, schema: SchemaDoc) -> SchemaDoc:
    """`schema` with `nullable` as the probe proves it; raises InvalidInput naming the
    reason when the estimator cannot be served."""
    model = _model(estimator, schema)
    example = _example_matrix(model.schema)
    for method, call in _answer_calls(model):
        try:
            out = _quiet(call, model._input(example))
        except Exception as exc:  # noqa: BLE001 - any failure here is the upload's fault
            raise InvalidInput(
                f"the model raises on its own example row ({method}): "
                f"{type(exc).__name__}: {str(exc)[:200]}",
                {"file": f"{method} fails on the example row"},
            ) from None
        _check_shape(method, out)
    return probe_nullable(estimator, schema)


def probe_nullable(estimator: Any, schema: SchemaDoc) -> SchemaDoc:
    """The schema with each feature's `nullable` kept only where the probe proves it,
    and the probe's marker (`is_probed`). Never raises: an estimator that fails the
    probe for a feature simply does not take missing values there."""
    model = _model(estimator, schema)
    try:
        example = _example_matrix(model.schema)
    except InvalidInput:
        example = None
    claimed = [j for j, f in enumerate(schema["features"]) if f.get("nullable")]
    proven = _proven_columns(model, example, claimed) if example is not None else set()
    features: list[dict[str, Any]] = []
    refuted: list[str] = []
    for j, feat in enumerate(schema["features"]):
        if j in claimed and j not in proven:
            refuted.append(feat["name"])
        features.append({**feat, "nullable": j in proven})
    marker = {"version": PROBE_VERSION, "refuted": refuted}
    return {**schema, "features": features, PROBE_KEY: marker}


def is_probed(schema: SchemaDoc) -> bool:
    """Whether the schema's `nullable` flags came from this probe (versions registered
    before it have no marker and are probed again when loaded)."""
    marker = schema.get(PROBE_KEY)
    return isinstance(marker, dict) and marker.get("version") == PROBE_VERSION


def _model(estimator: Any, schema: SchemaDoc) -> LoadedModel:
    # the same input conversion (array or DataFrame, missing markers) as serving uses
    return LoadedModel("admission", 0, "", estimator, CompiledSchema.from_doc(schema), None)


def _example_matrix(schema: CompiledSchema) -> np.ndarray:
    try:
        matrix, _ = schema.rows_to_matrix([schema.example_instance()], 1)
    except InvalidInput as exc:
        raise InvalidInput(
            f"the schema's example row is not valid input: {exc.message}", exc.errors
        ) from None
    return matrix


def _answer_calls(model: LoadedModel) -> list[tuple[str, Callable[[Any], Any]]]:
    calls: list[tuple[str, Callable[[Any], Any]]] = [("predict", model.estimator.predict)]
    if model.has_proba:
        calls.append(("predict_proba", model.estimator.predict_proba))
    return calls


def _check_shape(method: str, out: Any) -> None:
    try:
        arr = np.asarray(out)
    except ValueError:  # a list of per-output arrays of different widths
        arr = np.asarray(out, dtype=object)
    expected_ndim = 1 if method == "predict" else 2
    if arr.ndim != expected_ndim or arr.shape[0] != 1:
        raise InvalidInput(
            f"multi-output estimators are not supported: {method} on one row returned "
            f"shape {arr.shape}; register one model per output",
            {"file": "multi-output estimator"},
        )
    if not _finite(arr):
        raise InvalidInput(
            f"the model answers its own example row with a non-finite {method}",
            {"file": f"non-finite {method} on the example row"},
        )


def _proven_columns(model: LoadedModel, example: np.ndarray, columns: list[int]) -> set[int]:
    """The columns the model takes a missing value in. One call first, one row per
    column (the example with that column missing): when the model answers it, each
    row's finiteness decides its column; when it refuses the batch, each column is
    tried alone, so one refused column does not condemn the others."""
    if not columns:
        return set()
    rows = np.repeat(example, len(columns), axis=0)
    for i, j in enumerate(columns):
        rows[i, j] = np.nan if model.schema.features[j]["type"] == "numeric" else None
    finite = _finite_rows(model, rows)
    if finite is not None:
        return {j for i, j in enumerate(columns) if finite[i]}
    return {
        j
        for i, j in enumerate(columns)
        if (alone := _finite_rows(model, rows[i : i + 1])) is not None and alone[0]
    }


def _finite_rows(model: LoadedModel, rows: np.ndarray) -> np.ndarray | None:
    """Per row, whether every answer (predict, predict_proba) is finite; None when the
    model refuses the rows."""
    finite = np.ones(len(rows), dtype=bool)
    for _method, call in _answer_calls(model):
        try:
            out = np.asarray(_quiet(call, model._input(rows)))
        except Exception:  # noqa: BLE001 - refusing the NaN is the answer we look for
            return None
        if out.dtype.kind in "fc":
            finite &= np.isfinite(out.reshape(len(rows), -1)).all(axis=1)
        elif out.dtype == object:
            finite &= [_finite(np.asarray(v, dtype=object)) for v in out.reshape(len(rows), -1)]
    return finite


def _finite(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "fc":
        return bool(np.isfinite(arr).all())
    if arr.dtype == object:
        return all(not (isinstance(v, float) and not np.isfinite(v)) for v in arr.ravel())
    return True


def _quiet(call: Callable[[Any], Any], X: Any) -> Any:
    """`call(X)` without the warnings a probe provokes on purpose (NaN arithmetic)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return call(X)
