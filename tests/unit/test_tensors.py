"""V2 binary tensors to the estimator's matrix (app/core/v2.py `request_matrix`): one
binary [N, F] numeric tensor, or one binary column per feature, is cast as it lies in
the body, and the matrix is the one the rows' way (JSON's) makes of the same values,
bit for bit, for every datatype."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from app.core import v2
from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.schema import CompiledSchema
from app.core.tensors import NUMPY_TYPES, parse_infer_request

K = 3
MAX_ROWS = 100


def schema(nullable: bool = False) -> CompiledSchema:
    return CompiledSchema(
        [{"name": f"x{i}", "type": "numeric", "nullable": nullable} for i in range(K)]
    )


def edge_values(datatype: str) -> np.ndarray:
    """Each type's extremes, signed zeros and values float64 cannot hold exactly."""
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if dtype.kind == "b":
        values = [True, False, True]
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = [info.min, info.max, 0, 1, info.max - 1, info.min + 1]
        if dtype.itemsize == 8:  # beyond 2**53: float64 rounds them
            values += [2**53 + 1, 2**62 + 2**9 + 1, info.max - 2**10]
    else:
        info = np.finfo(dtype)
        values = [0.0, -0.0, float(info.max), -float(info.max), float(info.smallest_subnormal)]
        values += [float(info.tiny), 0.1, -1.5, 1 / 3]
    values += values[: (-len(values)) % K]  # whole rows
    return np.array(values, dtype=dtype)


def binary_request(values: np.ndarray, pad: int = 0):
    """A binary-extended body of `values` as one [N, K] tensor; `pad` spaces after the
    JSON header move the data off its natural alignment."""
    blob = values.tobytes()
    datatype = next(name for name, code in NUMPY_TYPES.items() if np.dtype(code) == values.dtype)
    head = (
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "datatype": datatype,
                        "shape": [len(values) // K, K],
                        "parameters": {"binary_data_size": len(blob)},
                    }
                ]
            }
        )
        + b" " * pad
    )
    return parse_infer_request(head + blob, str(len(head)))


def rows_way(values: np.ndarray, s: CompiledSchema) -> np.ndarray:
    """The matrix of the same values sent as JSON rows."""
    rows = orjson.loads(orjson.dumps(values.reshape(-1, K).tolist()))
    matrix, _ = s.rows_to_matrix(rows, MAX_ROWS)
    return matrix


@pytest.mark.parametrize("datatype", sorted(NUMPY_TYPES))
@pytest.mark.parametrize("pad", [0, 1, 3])
def test_a_binary_tensor_gives_the_json_rows_matrix_bit_for_bit(datatype, pad):
    values = edge_values(datatype).astype(np.dtype(NUMPY_TYPES[datatype]).newbyteorder("<"))
    req = binary_request(values, pad)
    assert v2._binary_matrix(req, schema(), MAX_ROWS) is not None  # the cast, not the rows
    matrix, n = v2.request_matrix(req, schema(), MAX_ROWS)
    expected = rows_way(values, schema())
    assert n == len(values) // K
    assert matrix.dtype == np.float64 and matrix.shape == expected.shape
    assert matrix.tobytes() == expected.tobytes()
    assert matrix.flags.writeable and matrix.flags.c_contiguous  # a copy, not the body


def test_nan_is_taken_where_the_schema_allows_it_and_named_where_not():
    values = np.array([1.0, np.nan, 3.0, 4.0, 5.0, 6.0])
    matrix, _ = v2.request_matrix(binary_request(values), schema(nullable=True), MAX_ROWS)
    assert np.isnan(matrix[0, 1]) and matrix[1].tolist() == [4.0, 5.0, 6.0]
    with pytest.raises(InvalidInput) as caught:
        v2.request_matrix(binary_request(values), schema(), MAX_ROWS)
    assert caught.value.errors == {"instances[0].x1": "missing value: this feature is required"}


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinities_are_refused_naming_the_value(bad):
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, bad], dtype="<f4")
    with pytest.raises(InvalidInput) as caught:
        v2.request_matrix(binary_request(values), schema(nullable=True), MAX_ROWS)
    assert caught.value.errors == {"instances[1].x2": "must be a finite number"}


def test_too_many_rows_is_refused_before_any_cast():
    values = np.zeros((MAX_ROWS + 1) * K)
    with pytest.raises(PayloadTooLarge):
        v2.request_matrix(binary_request(values), schema(), MAX_ROWS)


def test_json_data_and_categorical_schemas_take_the_rows_way():
    req = parse_infer_request(
        orjson.dumps(
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, K], "data": [1, 2, 3]}]}
        ),
        None,
    )
    assert v2._binary_matrix(req, schema(), MAX_ROWS) is None
    assert v2.request_matrix(req, schema(), MAX_ROWS)[0].tolist() == [[1.0, 2.0, 3.0]]
    mixed = CompiledSchema(
        [
            {"name": "x0", "type": "numeric"},
            {"name": "c", "type": "categorical", "categories": ["a"]},
        ]
    )
    req = binary_request(np.array([1.0, 2.0, 3.0]))
    assert v2._binary_matrix(req, mixed, MAX_ROWS) is None


def columnar_request(columns: dict[str, np.ndarray], shape_of=lambda n: [n]):
    """A pandas-style binary request: one input per feature, each its own datatype."""
    inputs, blobs = [], []
    for name, values in columns.items():
        blob = values.tobytes()
        datatype = next(t for t, code in NUMPY_TYPES.items() if np.dtype(code) == values.dtype)
        inputs.append(
            {
                "name": name,
                "datatype": datatype,
                "shape": shape_of(len(values)),
                "parameters": {"binary_data_size": len(blob)},
            }
        )
        blobs.append(blob)
    head = orjson.dumps({"inputs": inputs, "parameters": {"content_type": "pd"}})
    return parse_infer_request(head + b"".join(blobs), str(len(head)))


@pytest.mark.parametrize("shape_of", [lambda n: [n], lambda n: [n, 1]])
def test_binary_columns_of_mixed_datatypes_give_the_json_rows_matrix(shape_of):
    n = 6
    columns = {  # in another order than the schema's: the names place them
        "x2": np.array([True, False, True, True, False, False]),
        "x0": np.array([2**64 - 1, 2**63, 2**53 + 1, 0, 1, 7], dtype="<u8"),
        "x1": np.array([-0.0, 1e-45, 3.4e38, -1.5, 0.1, 2.0], dtype="<f4"),
    }
    req = columnar_request(columns, shape_of)
    assert v2._binary_matrix(req, schema(), MAX_ROWS) is not None
    matrix, count = v2.request_matrix(req, schema(), MAX_ROWS)
    rows = [[columns[f"x{j}"][i].item() for j in range(K)] for i in range(n)]
    expected, _ = schema().rows_to_matrix(orjson.loads(orjson.dumps(rows)), MAX_ROWS)
    assert count == n and matrix.tobytes() == expected.tobytes()
    assert matrix.flags.c_contiguous and matrix.flags.writeable


def test_columns_of_unequal_lengths_are_refused_by_the_rows_way():
    columns = {f"x{j}": np.arange(3 + (j == 1), dtype="<f8") for j in range(K)}
    req = columnar_request(columns)
    assert v2._binary_matrix(req, schema(), MAX_ROWS) is None
    with pytest.raises(InvalidInput, match="same number of rows"):
        v2.request_matrix(req, schema(), MAX_ROWS)


def test_bool_bytes_other_than_0_and_1_read_as_true_both_ways():
    """The extension sends BOOL as one byte each; any byte but 0 is true, as
    np.frombuffer reads it whether or not the values go through Python."""
    values = np.frombuffer(bytes([0, 1, 2, 255, 128, 0]), dtype="?")
    matrix, _ = v2.request_matrix(binary_request(values), schema(), MAX_ROWS)
    assert matrix.tolist() == [[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]
    assert matrix.tobytes() == rows_way(values, schema()).tobytes()
