"""Validation work grows linearly with the input, and "did you mean" is computed only
for the first few problems reported: counted in calls, not measured in time."""

import difflib

import pytest

from app.core import csvbody
from app.core.errors import InvalidInput
from app.core.schema import MAX_SUGGESTIONS, CompiledSchema

NAMES = [f"feature_{i}" for i in range(8)]


class CountingStr(str):
    """A str that counts the comparisons and hashes made with it."""

    ops = 0

    def __eq__(self, other):
        CountingStr.ops += 1
        return str.__eq__(self, other)

    def __hash__(self):
        CountingStr.ops += 1
        return str.__hash__(self)


@pytest.fixture
def schema():
    return CompiledSchema.from_doc({"features": [{"name": n, "type": "numeric"} for n in NAMES]})


@pytest.fixture
def suggestions(monkeypatch):
    calls = []
    real = difflib.get_close_matches

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    return calls


def header_ops(schema, n):
    header = [CountingStr(n) for n in NAMES] + [CountingStr(f"extra_{i}") for i in range(n)]
    CountingStr.ops = 0
    with pytest.raises(InvalidInput):
        csvbody._positions(schema, header)
    return CountingStr.ops


def test_header_checks_are_linear_in_the_number_of_columns(schema, suggestions):
    small, large = header_ops(schema, 500), header_ops(schema, 5000)
    assert large <= 12 * small  # quadratic would be 100x; linear is 10x


def test_duplicate_columns_are_found_in_linear_work(schema):
    def ops(n):
        header = [CountingStr(f"c{i}") for i in range(n)] * 2
        CountingStr.ops = 0
        with pytest.raises(InvalidInput, match="duplicate"):
            csvbody._positions(schema, header)
        return CountingStr.ops

    assert ops(4000) <= 12 * ops(400)


def test_did_you_mean_is_computed_only_for_the_first_few_unknown_columns(schema, suggestions):
    header = ",".join(NAMES[1:] + [f"featur_{i}" for i in range(2000)])  # feature_0 missing
    with pytest.raises(InvalidInput) as err:
        schema.csv_to_matrix((header + "\n").encode(), 10)
    assert len(suggestions) == MAX_SUGGESTIONS
    assert sum("did you mean" in v for v in err.value.errors.values()) == MAX_SUGGESTIONS


def test_did_you_mean_is_computed_only_for_the_first_few_unknown_json_fields(schema, suggestions):
    rows = [{**dict.fromkeys(NAMES[1:], 1.0), f"featur_{i}": 1.0} for i in range(5000)]
    with pytest.raises(InvalidInput) as err:
        schema.rows_to_matrix(rows, 10_000)
    assert len(suggestions) == MAX_SUGGESTIONS
    assert len(err.value.errors) == 20


def test_row_checks_stop_after_the_reported_errors():
    schema = CompiledSchema.from_doc(
        {"features": [{"name": n, "type": "categorical", "categories": ["a"]} for n in NAMES]}
    )

    def ops(n):
        rows = [{CountingStr(k): "x" for k in NAMES} for _ in range(n)]
        CountingStr.ops = 0
        with pytest.raises(InvalidInput):
            schema.rows_to_matrix(rows, 10**6)
        return CountingStr.ops

    # every row is wrong: the work stops once 20 problems are reported, whatever n
    assert ops(20_000) == ops(200)


TRICKY = ["0.1", "1e-320", "-0.0", "123456789.123456789", "2.2250738585072014e-308", "1_0", "7"]


def test_the_c_path_reads_every_plain_number_exactly_as_the_row_path(schema):
    from app.core.csvbody import csv_rows, numeric_matrix

    rows = [[TRICKY[(i + j) % len(TRICKY)] for j in range(len(NAMES))] for i in range(30)]
    body = (",".join(NAMES) + "\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()
    fast = numeric_matrix(schema, body, 100)
    slow, _ = schema.rows_to_matrix(csv_rows(schema, body, 100), 100)
    assert fast is not None and fast.flags.c_contiguous and fast.dtype == slow.dtype
    assert fast.tobytes() == slow.tobytes()  # bit for bit, -0.0 and subnormals included


@pytest.mark.parametrize(
    "rows",
    [
        ["1,2,3,4,5,6,7,8,9"],  # a long first row: pandas would take it as the index
        ["1,2,3,4,5,6,7,8", "1,2"],  # a short row: pandas would fill NaN
        ["1,2,3,4,5,6,7,"],
        ["true,2,3,4,5,6,7,8"],
        ["NA,2,3,4,5,6,7,8"],
        ["inf,2,3,4,5,6,7,8"],
    ],
)
def test_the_c_path_leaves_anything_unusual_to_the_row_path(schema, rows):
    from app.core.csvbody import numeric_matrix

    body = (",".join(NAMES) + "\n" + "\n".join(rows) + "\n").encode()
    assert numeric_matrix(schema, body, 100) is None
