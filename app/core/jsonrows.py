"""A prediction body of array rows of numbers, read straight into a float64 matrix.

orjson builds a Python float for every number of `{"instances": [[...], ...]}` and NumPy
reads them back: two thirds of a 10,000-row request of a cheap model
(docs/performance.md, "JSON rows without Python floats"). simdjson parses the body
into its own tape and copies the numbers out as doubles, so no Python object is made
per value. Its number parsing is correctly rounded, as `float()` is, and integers are
read as 64-bit integers and cast to double, which rounds as `float(int)` does: the
matrix is the orjson path's bit for bit (tests/unit/test_jsonrows.py).

Only a body whose shape is beyond doubt is read here; anything else (another key, a
duplicated key, a string, null or a boolean among the values, a nested array, a row of
the wrong length, a number beyond 64-bit integers or doubles, too many rows, malformed
JSON) returns None and takes the orjson path, which accepts or explains it as before.
"""

from __future__ import annotations

import numpy as np
import simdjson

# the fields of a prediction body, here and on the orjson way (app/api/predictions.py)
PREDICT_BODY_KEYS = frozenset({"instances", "return_proba"})
# below this a request is served sooner the orjson way: in the app, this path costs
# some 15 us more per request whatever the body (docs/performance.md, "JSON rows
# without Python floats")
PAYS_FROM_BYTES = 16 * 1024


def numeric_rows(body: bytes, k: int, max_rows: int) -> tuple[np.ndarray, bool] | None:
    """(matrix of n rows of `k` float64, return_proba) for a body that is exactly
    `{"instances": [[k numbers], ...], "return_proba": bool}` (return_proba optional) with
    1 to `max_rows` rows; None for any other body."""
    # A parser per call: one kept per thread would keep about three times the largest
    # body it has read, for each of a worker's threads.
    try:
        doc = simdjson.Parser().parse(body)
    except (ValueError, RuntimeError):  # malformed JSON or UTF-8, too deep, a number past 64 bits
        return None
    if not isinstance(doc, simdjson.Object):
        return None
    keys = list(doc.keys())
    if len(set(keys)) != len(keys) or not set(keys) <= PREDICT_BODY_KEYS or "instances" not in keys:
        return None
    proba = doc.get("return_proba", False)
    rows = doc["instances"]
    if type(proba) is not bool or not isinstance(rows, simdjson.Array):
        return None
    n = len(rows)
    if not 1 <= n <= max_rows or not _rows_of(rows, k) or body.count(b"[") != n + 1:
        # as_buffer flattens nested arrays: one "[" per row and the list's own proves
        # there are none
        return None
    try:
        flat = rows.as_buffer(of_type="d")
    except TypeError:  # a string, null, boolean or object among the values
        return None
    matrix = np.frombuffer(flat, dtype=np.float64).reshape(n, k)  # the buffer owns its copy
    if not np.isfinite(matrix).all():
        return None
    return matrix, proba


def _rows_of(rows: simdjson.Array, k: int) -> bool:
    return all(isinstance(row, simdjson.Array) and len(row) == k for row in rows)
