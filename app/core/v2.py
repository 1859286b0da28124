"""The Open Inference Protocol (V2) in the core's terms: decoded tensors become the
estimator's matrix through the schema's validation (a binary numeric tensor directly),
a prediction becomes V2 outputs, a model version becomes V2 metadata. No Flask here;
app/api/v2.py answers HTTP."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from app.core.errors import InvalidInput
from app.core.runtime import LoadedModel
from app.core.schema import CompiledSchema
from app.core.tensors import InferRequest, Tensor, datatype_of

PREDICT, PREDICT_PROBA = "predict", "predict_proba"
OUTPUTS = (PREDICT, PREDICT_PROBA)
PLATFORM = "sklearn"


def wanted_outputs(req: InferRequest, model: LoadedModel) -> tuple[bool, bool]:
    """(predict, predict_proba) as the request asks: predict alone by default."""
    if not req.outputs:
        return True, False
    unknown = [n for n in req.outputs if n not in OUTPUTS]
    if unknown:
        raise InvalidInput(
            f"unknown output {unknown[0][:60]!r}: the outputs are {', '.join(OUTPUTS)}",
            {"outputs": "valid names: " + ", ".join(OUTPUTS)},
        )
    proba = PREDICT_PROBA in req.outputs
    if proba and not model.has_proba:
        raise InvalidInput(
            f"model {model.name} v{model.version} ({model.task}) has no predict_proba output",
            {"outputs": "predict_proba not supported by this model"},
        )
    return PREDICT in req.outputs, proba


def request_matrix(
    req: InferRequest, schema: CompiledSchema, max_rows: int
) -> tuple[np.ndarray, int]:
    """The request's rows as the estimator's matrix, validated as /api/v1's are, and
    their count. Binary numeric data for an all-numeric schema (one [N, F] tensor, or
    one column per feature) is cast as it lies in the body: the values JSON would
    carry, without a Python object per value. Anything else, or any value that is not
    finite, takes the rows' way, which accepts NaN where the schema does and names what
    is wrong otherwise."""
    matrix = _binary_matrix(req, schema, max_rows)
    if matrix is not None:
        return matrix, len(matrix)
    return schema.rows_to_matrix(_request_rows(req, schema), max_rows)


def _binary_matrix(req: InferRequest, schema: CompiledSchema, max_rows: int) -> np.ndarray | None:
    if not schema.all_numeric:
        return None
    if _is_columnar(req, schema):
        matrix = _binary_columns(req.inputs, schema, max_rows)
    elif len(req.inputs) == 1:
        matrix = _binary_tensor(req.inputs[0], len(schema.names), max_rows)
    else:
        return None
    return matrix if matrix is not None and np.isfinite(matrix).all() else None


# Both casts are the rows' way's own: each value to float64 (booleans 1/0, integers
# rounded to the nearest float64), into a new C-ordered, writable matrix.
def _binary_tensor(t: Tensor, k: int, max_rows: int) -> np.ndarray | None:
    if t.array is None or len(t.shape) != 2 or t.shape[1] != k or not 0 < t.shape[0] <= max_rows:
        return None
    return t.array.reshape(t.shape).astype(np.float64)


def _binary_columns(
    inputs: list[Tensor], schema: CompiledSchema, max_rows: int
) -> np.ndarray | None:
    by_name = {t.name: t for t in inputs}
    if len(inputs) != len(schema.names) or not all(n in by_name for n in schema.names):
        return None
    columns = [by_name[n] for n in schema.names]
    n_rows = columns[0].shape[0]
    if not 0 < n_rows <= max_rows or not all(
        t.array is not None and t.shape in ([n_rows], [n_rows, 1]) for t in columns
    ):
        return None
    # each column to float64 on its own, as each value is on the rows' way (stacking
    # first would cast the columns to a common type before)
    return np.column_stack([t.array.astype(np.float64) for t in columns if t.array is not None])


def _request_rows(req: InferRequest, schema: CompiledSchema) -> list[list[Any]]:
    """Rows in schema order, for `schema.rows_to_matrix`: from one [N, F] tensor, or
    from one input per feature (pandas-style columns)."""
    if _is_columnar(req, schema):
        return _columnar_rows(req.inputs, schema)
    if len(req.inputs) != 1:
        raise InvalidInput(
            f"send one [N, {len(schema.names)}] tensor, or one input per feature named "
            f"{', '.join(schema.names)}",
            {"inputs": "expected one tensor or one per feature"},
        )
    return _tensor_rows(req.inputs[0], schema)


def _is_columnar(req: InferRequest, schema: CompiledSchema) -> bool:
    if req.parameters.get("content_type") == "pd":
        return True
    return all(t.name in schema.index for t in req.inputs) and (
        len(req.inputs) > 1 or len(schema.names) == 1
    )


def _tensor_rows(t: Tensor, schema: CompiledSchema) -> list[list[Any]]:
    k = len(schema.names)
    if len(t.shape) != 2 or t.shape[1] != k:
        raise InvalidInput(
            f"input {t.name!r}: shape {t.shape} is not [N, {k}] (N rows of the "
            f"features {', '.join(schema.names)})",
            {f"{t.name}.shape": f"expected [N, {k}]"},
        )
    v = t.values
    return [v[i : i + k] for i in range(0, len(v), k)]


def _columnar_rows(inputs: list[Tensor], schema: CompiledSchema) -> list[list[Any]]:
    by_name = {t.name: t for t in inputs}
    unknown = [n for n in by_name if n not in schema.index]
    missing = [n for n in schema.names if n not in by_name]
    if unknown or missing:
        errors = {n: "unknown feature" for n in unknown} | {n: "missing feature" for n in missing}
        raise InvalidInput(
            "the columnar inputs must be the model's features: " + ", ".join(schema.names), errors
        )
    n_rows = None
    for t in inputs:
        if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
            raise InvalidInput(
                f"input {t.name!r}: a column's shape is [N] or [N, 1], got {t.shape}",
                {f"{t.name}.shape": "expected [N] or [N, 1]"},
            )
        if n_rows is not None and t.shape[0] != n_rows:
            raise InvalidInput(
                "the columnar inputs must all have the same number of rows",
                {f"{t.name}.shape": f"expected {n_rows} rows"},
            )
        n_rows = t.shape[0]
    columns = [by_name[n].values for n in schema.names]
    return [list(row) for row in zip(*columns, strict=True)]


def infer_response(
    req: InferRequest, model: LoadedModel, out: dict[str, Any], want: tuple[bool, bool]
) -> dict[str, Any]:
    predictions = out["predictions"]
    outputs: list[dict[str, Any]] = []
    if want[0]:
        outputs.append(
            {
                "name": PREDICT,
                "datatype": datatype_of(predictions),
                "shape": [len(predictions)],
                "data": predictions,
            }
        )
    if want[1]:
        probabilities = out["probabilities"]
        n_classes = len(probabilities[0]) if probabilities else len(model.classes or ())
        outputs.append(
            {
                "name": PREDICT_PROBA,
                "datatype": "FP64",
                "shape": [len(probabilities), n_classes],
                "data": [p for row in probabilities for p in row],
                "parameters": {"classes": _classes_text(model.classes)},
            }
        )
    body: dict[str, Any] = {
        "model_name": model.name,
        "model_version": str(model.version),
        "outputs": outputs,
    }
    if req.id is not None:
        body["id"] = req.id
    return body


def _classes_text(classes: list[Any] | None) -> str:
    # V2 parameter values are strings, numbers or booleans: the class list as JSON text
    return orjson.dumps(classes or []).decode()


def model_metadata(model: LoadedModel, versions: list[int]) -> dict[str, Any]:
    """Inputs as one column per feature (BYTES for categorical); a single [N, F]
    tensor of any name is accepted too (its feature order is the inputs' order)."""
    inputs = [
        {
            "name": f["name"],
            "datatype": "FP64" if f["type"] == "numeric" else "BYTES",
            "shape": [-1],
        }
        for f in model.schema.features
    ]
    outputs: list[dict[str, Any]] = [
        {"name": PREDICT, "datatype": _predict_datatype(model), "shape": [-1]}
    ]
    if model.has_proba:
        n = len(model.classes or ())
        outputs.append(
            {
                "name": PREDICT_PROBA,
                "datatype": "FP64",
                "shape": [-1, n],
                "parameters": {"classes": _classes_text(model.classes), "class_count": n},
            }
        )
    return {
        "name": model.name,
        "versions": [str(v) for v in versions],
        "platform": PLATFORM,
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "version": str(model.version),
            "task": model.task,
            "features": orjson.dumps(model.schema.names).decode(),
        },
    }


def _predict_datatype(model: LoadedModel) -> str:
    if model.task != "classification" or not model.classes:
        return "FP64"
    return datatype_of(list(model.classes))
