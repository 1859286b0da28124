"""Array rows read straight from the body (app/core/jsonrows.py): the same float64
matrix as orjson's documents read by the schema, bit for bit, for every spelling of a
number JSON allows; any body of another shape steps aside (None) for the orjson path."""

import itertools
import json

import numpy as np
import orjson
import pytest

from app.core.jsonrows import numeric_rows
from app.core.schema import CompiledSchema, check_schema
from tests.conftest import iris_schema

K = 4  # iris_schema's features

# spellings where a parser that is not correctly rounded, or reads integers as
# doubles digit by digit, gives another double than float() does
HARD_NUMBERS = [
    "0", "-0", "0.0", "-0.0", "0e0", "-0E+5", "1E-0", "1e+2", "1.5E2",
    "9007199254740992", "9007199254740993", "9007199254740995", "-9007199254740993",
    "9007199254740993.0", "9007199254740993e0",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551614",
    "0.1", "0.2", "0.3", "0.30000000000000004", "123456789.123456789",
    "0.1000000000000000055511151231257827021181583404541015625",
    "1.7976931348623157e308", "1.7976931348623158e308", "-1.7976931348623157e308",
    "2.2250738585072011e-308", "2.2250738585072014e-308", "2.225073858507201136057409796709131975934819546351645648e-308",
    "4.9406564584124654e-324", "5e-324", "2.4703282292062328e-324",
    "2.4703282292062327e-324", "1e-400", "-1e-400",
    "7.038531e-26", "9.5e-10", "3.14159265358979323846264338327950288419716939937510",
    "1" + "0" * 300 + ".0", "0." + "0" * 300 + "1", "1" * 40 + "e-20",
    "4503599627370496.5", "4503599627370497.5", "2.0000000000000004440892098500626",
    "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124",
    "1.00000000000000011102230246251565404236316680908203126",
]  # fmt: skip


@pytest.fixture
def schema():
    return CompiledSchema.from_doc(check_schema(iris_schema()))


def orjson_matrix(body: bytes, schema: CompiledSchema) -> np.ndarray:
    """What the orjson path reads from the same body."""
    matrix, _ = schema.rows_to_matrix(orjson.loads(body)["instances"], 10_000)
    return matrix


def rows_body(spellings: list[str], proba: str | None = None) -> bytes:
    """`{"instances": [...]}` with the spellings as they are, K to a row."""
    rows = ", ".join(
        "[" + ", ".join(spellings[i : i + K]) + "]" for i in range(0, len(spellings), K)
    )
    extra = "" if proba is None else f', "return_proba": {proba}'
    return f'{{"instances": [{rows}]{extra}}}'.encode()


def test_every_hard_spelling_reads_as_the_json_module_reads_it(schema):
    padded = HARD_NUMBERS + ["1"] * (-len(HARD_NUMBERS) % K)
    body = rows_body(padded)
    read = numeric_rows(body, K, 10_000)
    assert read is not None
    matrix, proba = read
    assert proba is False
    assert matrix.tobytes() == orjson_matrix(body, schema).tobytes()
    # the standard library's reading: "-0" is the integer 0, as for orjson
    as_json = np.array([float(json.loads(s)) for s in padded]).reshape(-1, K)
    assert matrix.tobytes() == as_json.tobytes()


def test_random_spellings_read_as_the_orjson_path_reads_them(schema):
    rng = np.random.default_rng(13)
    spellings = []
    for _ in range(4_000):
        whole = str(rng.integers(0, 10 ** rng.integers(1, 19)))
        fraction = "".join(map(str, rng.integers(0, 10, rng.integers(0, 22))))
        sign = "-" if rng.random() < 0.5 else ""
        point = "." + fraction if fraction else ""
        exponent = f"e{rng.integers(-340, 310)}" if rng.random() < 0.5 else ""
        spelling = sign + whole + point + exponent
        if np.isfinite(float(spelling)):  # past the doubles: JSON bodies cannot say it
            spellings.append(spelling)
    doubles = rng.standard_normal(4_000) * 10.0 ** rng.integers(-300, 300, 4_000)
    spellings += [repr(float(x)) for x in doubles]
    body = rows_body(spellings[: len(spellings) // K * K])
    read = numeric_rows(body, K, 10_000)
    assert read is not None
    assert read[0].tobytes() == orjson_matrix(body, schema).tobytes()


@pytest.mark.parametrize("rows", [1, 2, 3, 17, 256, 10_000])
def test_batches_of_every_size_read_as_the_orjson_path(schema, rows):
    rng = np.random.default_rng(rows)
    X = rng.standard_normal((rows, K)) * rng.choice([1e-300, 1e-5, 1.0, 1e5, 1e300], (rows, K))
    X[rng.random((rows, K)) < 0.1] = -0.0
    body = orjson.dumps({"instances": X.tolist(), "return_proba": True})
    read = numeric_rows(body, K, 10_000)
    assert read is not None
    assert read[1] is True
    assert read[0].shape == (rows, K)
    assert read[0].tobytes() == X.tobytes() == orjson_matrix(body, schema).tobytes()


def test_whitespace_and_key_order_do_not_matter():
    body = b' {\n "return_proba" : false ,\t"instances":[ [1 ,2,3,4 ] ,[5,6,7,8]] }\r\n'
    matrix, proba = numeric_rows(body, K, 10) or (None, None)
    assert proba is False
    assert matrix is not None and matrix.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, [2], 3, 4]]}',  # nested inside a row ...
        b'{"instances": [[1, 2, 3, [4, 5]], 6]}',  # ... that flattening would hide
        b'{"instances": [[[1, 2, 3, 4]]]}',
        b'{"instances": [1, 2, 3, 4]}',
        b'{"instances": [[1, 2, 3, 4], 5]}',
        b'{"instances": [[1, 2, 3, 4], [5, 6, 7]]}',  # ragged
        b'{"instances": [[1, 2, 3], [4, 5, 6, 7, 8]]}',  # ragged, the right total
        b'{"instances": [[1, 2, 3, 4, 5]]}',
        b'{"instances": [[1, 2, 3, "4"]]}',
        b'{"instances": [[1, 2, 3, null]]}',
        b'{"instances": [[1, 2, 3, true]]}',
        b'{"instances": [[1, 2, 3, {}]]}',
        b'{"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}',
        b'{"instances": [[1, 2, 3, 1e400]]}',
        b'{"instances": [[1, 2, 3, 123456789012345678901234567890]]}',
        b'{"instances": [[1, 2, 3, -9223372036854775809]]}',
        b'{"instances": []}',
        b'{"instances": {}}',
        b'{"instances": [[1, 2, 3, 4]], "instances": [[5, 6, 7, 8]]}',  # duplicated
        b'{"instances": [[1, 2, 3, 4]], "extra": 1}',
        b'{"instances": [[1, 2, 3, 4]], "return_proba": 1}',
        b'{"instances": [[1, 2, 3, 4]], "return_proba": "yes"}',
        b'{"rows": [[1, 2, 3, 4]]}',
        b"[[1, 2, 3, 4]]",
        b'{"instances": [[1, 2, 3, 4]]',  # malformed
        b'{"instances": [[1, 2, 3, 4]]} []',
        b'{"instances": [[1, 2, 3, NaN]]}',
        b'{"instances": [[1, 2, 3, 01]]}',
        b'{"instances": ' + b"[" * 2000 + b"]" * 2000 + b"}",  # beyond simdjson's depth
        b'{"instances": [[1, 2, 3, 4]], "\xff": 1}',  # not UTF-8
        b"",
    ],
)
def test_bodies_of_another_shape_step_aside(body):
    assert numeric_rows(body, K, 10) is None


def test_more_rows_than_allowed_step_aside():
    body = orjson.dumps({"instances": [[1, 2, 3, 4]] * 11})
    assert numeric_rows(body, K, 11) is not None
    assert numeric_rows(body, K, 10) is None


@pytest.mark.parametrize(
    "spelling", ["1e400", "-1e400", "123456789012345678901234567890", "1" + "0" * 300]
)
def test_numbers_it_refuses_are_those_the_orjson_path_reads_another_way(schema, spelling):
    """simdjson refuses these; orjson refuses infinity and reads a big integer as a
    Python int: stepping aside keeps whatever that path answers."""
    body = rows_body([spelling, "1", "2", "3"])
    assert numeric_rows(body, K, 10) is None
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    assert orjson_matrix(body, schema)[0, 0] == float(int(spelling))


def test_every_value_is_read_once_in_row_order():
    values = list(itertools.islice(itertools.count(1), 4 * 300))
    body = orjson.dumps({"instances": [values[i : i + K] for i in range(0, len(values), K)]})
    matrix, _ = numeric_rows(body, K, 1_000) or (None, None)
    assert matrix is not None and matrix.ravel().tolist() == values
