"""The feature schema: derivation from estimators, uploaded schema checks, and the
conversion of request rows (JSON and CSV) with errors that name the problem."""

import numpy as np
import pytest

from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.jsonbody import only_keys_are_strings
from app.core.schema import FROMITER_MIN_ROWS, CompiledSchema, check_schema, derive_schema
from tests.conftest import IRIS_FEATURES, iris_schema


@pytest.fixture
def schema():
    return CompiledSchema.from_doc(check_schema(iris_schema()))


@pytest.fixture
def mixed_schema(mixed_model):
    return CompiledSchema.from_doc(derive_schema(mixed_model[0]))


def test_derive_schema_names_x_columns_when_fitted_on_arrays(iris_models):
    doc = derive_schema(iris_models["tree"])
    assert [f["name"] for f in doc["features"]] == ["x0", "x1", "x2", "x3"]
    assert {f["type"] for f in doc["features"]} == {"numeric"}


def test_derive_schema_reads_categories_and_imputers_from_a_pipeline(mixed_model):
    doc = derive_schema(mixed_model[0])
    age, city = doc["features"]
    assert age == {"name": "age", "type": "numeric", "nullable": True}
    assert city["type"] == "categorical"
    assert city["categories"] == ["lyon", "nice", "paris"]
    assert city["allow_unknown"] is False
    assert city["nullable"] is True


@pytest.mark.parametrize(
    "doc, problem",
    [
        ({}, "features"),
        ({"features": []}, "features"),
        ({"features": [{"name": "", "type": "numeric"}]}, "features[0].name"),
        ({"features": [{"name": "a", "type": "text"}]}, "features[0].type"),
        ({"features": [{"name": "a"}, {"name": "a"}]}, "features[1].name"),
        ({"features": [{"name": "c", "type": "categorical"}]}, "features[0].categories"),
    ],
)
def test_check_schema_rejects_bad_documents(doc, problem):
    with pytest.raises(InvalidInput) as err:
        check_schema(doc)
    assert problem in err.value.message + " ".join(err.value.errors)


def test_check_schema_rejects_a_feature_count_that_differs_from_the_model():
    with pytest.raises(InvalidInput, match="4 features but the model takes 3"):
        check_schema(iris_schema(), n_features=3)


def test_booleans_count_as_one_and_zero_on_both_paths(schema):
    fast, _ = schema.rows_to_matrix([[1, 2, 3, True]], 10)
    slow = schema._slow([[1, 2, 3, True], [1, 2, 3, False]])
    assert fast.tolist() == [[1.0, 2.0, 3.0, 1.0]]
    assert slow.tolist() == [[1.0, 2.0, 3.0, 1.0], [1.0, 2.0, 3.0, 0.0]]


def test_rows_as_objects_and_arrays_give_the_same_matrix(schema):
    as_objects = [dict(zip(reversed(IRIS_FEATURES), [0.2, 1.4, 3.5, 5.1], strict=True))]
    m1, n1 = schema.rows_to_matrix(as_objects, 10)
    m2, n2 = schema.rows_to_matrix([[5.1, 3.5, 1.4, 0.2]], 10)
    assert n1 == n2 == 1
    assert m1.dtype == np.float64
    np.testing.assert_array_equal(m1, m2)


@pytest.mark.parametrize(
    "instances, key, words",
    [
        (
            [{"sepal_length": 1, "sepal_width": 1, "petal_length": 1}],
            "instances[0].petal_width",
            "missing",
        ),
        (
            [
                {
                    "sepal_length": 1,
                    "sepal_width": 1,
                    "petal_length": 1,
                    "petal_width": 1,
                    "colour": 3,
                }
            ],
            "instances[0].colour",
            "unknown feature",
        ),
        (
            [{"sepal_lenght": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1}],
            "instances[0].sepal_lenght",
            "did you mean 'sepal_length'",
        ),
        ([[1, 2, 3]], "instances[0]", "expected 4 values"),
        ([[1, 2, 3, "x"]], "instances[0].petal_width", "expected a number"),
        ([[1, 2, 3, None]], "instances[0].petal_width", "missing value"),
        ([[1, 2, 3, float("inf")]], "instances[0].petal_width", "finite"),
        ([[1, 2, 3, [4]]], "instances[0].petal_width", "expected a number"),
        (["row"], "instances[0]", "a row must be"),
        ([[1, 2, 3, 4], [1, 2, 3, "y"]], "instances[1].petal_width", "expected a number"),
    ],
)
def test_bad_rows_are_rejected_naming_the_field(schema, instances, key, words):
    with pytest.raises(InvalidInput) as err:
        schema.rows_to_matrix(instances, 10)
    assert key in err.value.errors, err.value.errors
    assert words in err.value.errors[key]


def test_string_free_rows_give_np_arrays_matrix_bit_for_bit(schema):
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 1e6, (FROMITER_MIN_ROWS + 9, 4)).tolist()
    rows[0] = [-0.0, 0.0, 5e-324, 1.7976931348623157e308]
    rows[1] = [1, -(2**63), 2**64, True]  # ints, beyond int64, a boolean
    read, n = schema.rows_to_matrix(rows, 100, no_strings=True)
    discovered, _ = schema.rows_to_matrix(rows, 100)
    assert n == len(rows)
    assert read.dtype == discovered.dtype == np.float64
    assert read.tobytes() == discovered.tobytes()  # the signs of zero included


@pytest.mark.parametrize(
    "bad_row, words",
    [
        ([1, 2, 3], "expected 4 values"),
        ([1, 2, 3, 4, 5], "expected 4 values"),
        ([1, 2, 3, None], "missing value"),
        ([1, 2, 3, [4]], "expected a number"),
        ([1, 2, 3, {"a": 4}], "expected a number"),
        ([1, 2, 3, float("inf")], "finite"),
    ],
)
def test_bad_string_free_rows_are_rejected_naming_the_field(schema, bad_row, words):
    rows = [[1, 2, 3, 4]] * FROMITER_MIN_ROWS + [bad_row]
    with pytest.raises(InvalidInput) as err:
        schema.rows_to_matrix(rows, 100, no_strings=True)
    key = next(iter(err.value.errors))
    assert key.startswith(f"instances[{FROMITER_MIN_ROWS}]"), err.value.errors
    assert words in err.value.errors[key]


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"instances": [[1, 2.5, -0.0, true]]}', True),
        (b'{"instances": [[1, 2]], "return_proba": false}', True),
        (b'{"instances": [[1, "2"]]}', False),
        (b'{"instances": [{"a": 1}]}', False),
        (b'{"instances": [[1, 2]], "instances": [[3, 4]]}', False),  # a repeated key
        (b'{"in\\"stances": [[1, 2]]}', False),  # an escaped quote only adds quotes
    ],
)
def test_only_keys_are_strings_proves_no_string_value(body, expected):
    import orjson

    assert only_keys_are_strings(body, orjson.loads(body)) is expected


@pytest.mark.parametrize("instances, words", [([], "empty"), ({"a": 1}, "list"), (None, "list")])
def test_instances_must_be_a_non_empty_list(schema, instances, words):
    with pytest.raises(InvalidInput, match=words):
        schema.rows_to_matrix(instances, 10)


def test_too_many_rows_is_payload_too_large(schema):
    with pytest.raises(PayloadTooLarge, match="exceed the limit of 2"):
        schema.rows_to_matrix([[1, 2, 3, 4]] * 3, 2)


def test_categorical_rows_accept_nulls_when_nullable_and_reject_unknown_categories(mixed_schema):
    matrix, _ = mixed_schema.rows_to_matrix([{"age": None, "city": "lyon"}, [30, None]], 10)
    assert np.isnan(matrix[0, 0]) and matrix[0, 1] == "lyon" and matrix[1, 1] is None
    with pytest.raises(InvalidInput) as err:
        mixed_schema.rows_to_matrix([{"age": 30, "city": "rome"}], 10)
    assert "unknown category 'rome'" in err.value.errors["instances[0].city"]
    assert "'lyon'" in err.value.errors["instances[0].city"]


def test_unknown_categories_pass_when_the_model_handles_them():
    doc = check_schema(
        {
            "features": [
                {"name": "c", "type": "categorical", "categories": ["a"], "allow_unknown": True}
            ]
        }
    )
    matrix, _ = CompiledSchema.from_doc(doc).rows_to_matrix([["zzz"]], 10)
    assert matrix[0, 0] == "zzz"


def test_csv_body_with_columns_in_any_order(schema):
    body = b"petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n2.3,5.2,3.0,6.7\n"
    matrix, n = schema.csv_to_matrix(body, 10)
    assert n == 2
    np.testing.assert_array_equal(matrix, [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])


@pytest.mark.parametrize(
    "body, key_or_words",
    [
        (b"", "empty"),
        (b"sepal_length,sepal_width,petal_length,petal_width\n", "no rows"),
        (b"sepal_length,sepal_width,petal_length\n1,2,3\n", "header.petal_width"),
        (
            b"sepal_length,sepal_width,petal_length,petal_width,sepal_length\n1,2,3,4,5\n",
            "duplicate",
        ),
        (
            b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,abc\n",
            "instances[0].petal_width",
        ),
        (
            b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,\n",
            "instances[0].petal_width",
        ),
        (
            b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,inf\n",
            "instances[0].petal_width",
        ),
        (b"\xff\xfe\x00", "UTF-8"),
    ],
)
def test_bad_csv_bodies_are_rejected(schema, body, key_or_words):
    with pytest.raises(InvalidInput) as err:
        schema.csv_to_matrix(body, 10)
    assert key_or_words in err.value.message + " ".join(err.value.errors)


def test_csv_with_too_many_rows_is_payload_too_large(schema):
    body = b"sepal_length,sepal_width,petal_length,petal_width\n" + b"1,2,3,4\n" * 3
    with pytest.raises(PayloadTooLarge):
        schema.csv_to_matrix(body, 2)


def test_example_instance_uses_recorded_examples(schema, mixed_schema):
    assert schema.example_instance() == dict(zip(IRIS_FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True))
    assert mixed_schema.example_instance() == {"age": 0.0, "city": "lyon"}
