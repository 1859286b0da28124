"""CSV prediction bodies a careless client sends (SQLite and PostgreSQL): a 4xx naming
the problem, or exactly the answer the same rows get as JSON."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.conftest import IRIS_FEATURES, iris_schema

HEADER = ",".join(IRIS_FEATURES)
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [0.1, 0.7, 1e-3, 123456.789]]


@pytest.fixture
def linear(registry, iris_data):
    """A linear model: its probabilities show any difference in the input's last bits."""
    X, y = iris_data
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    registry.add_estimator("linear", est, schema=iris_schema())
    return est


@pytest.fixture
def coded(registry):
    """Categorical codes that are numbers, a category spelt 'NA', missing values imputed."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame(
        {"x": [0.5, 1.5, 2.5, 3.5] * 5, "code": [1, 2, 3, 1] * 5, "region": ["NA", "EU"] * 10}
    )
    ct = make_column_transformer(
        (SimpleImputer(), ["x"]),
        (OneHotEncoder(handle_unknown="ignore"), ["code", "region"]),
    )
    est = make_pipeline(ct, LogisticRegression()).fit(frame, [0, 1, 1, 0] * 5)
    schema = {
        "features": [
            {"name": "x", "type": "numeric", "nullable": True},
            {"name": "code", "type": "categorical", "categories": [1, 2, 3]},
            {"name": "region", "type": "categorical", "categories": ["NA", "EU"]},
        ]
    }
    registry.add_estimator("coded", est, schema=schema)
    return est


def as_csv(client, name, body, proba=True):
    return client.post(
        f"/api/v1/models/{name}/predict?return_proba={'true' if proba else 'false'}",
        data=body.encode() if isinstance(body, str) else body,
        content_type="text/csv",
    )


def as_json(client, name, instances, proba=True):
    return client.post(
        f"/api/v1/models/{name}/predict", json={"instances": instances, "return_proba": proba}
    )


def csv_of(rows, header=HEADER):
    return header + "\n" + "\n".join(",".join(repr(v) for v in row) for row in rows) + "\n"


@pytest.mark.parametrize(
    "header",
    [
        HEADER,
        " " + HEADER.replace(",", " , ") + " ",
        "\ufeff" + HEADER,
        ",".join(f'"{n}"' for n in IRIS_FEATURES),
        ", ".join(f'"{n}"' for n in IRIS_FEATURES),
    ],
    ids=["plain", "spaces-around-names", "byte-order-mark", "quoted", "quoted-after-spaces"],
)
def test_csv_gets_bitwise_the_answer_json_gets(client, linear, header):
    expected = as_json(client, "linear", ROWS)
    res = as_csv(client, "linear", csv_of(ROWS, header))
    assert res.status_code == 200, res.json
    assert res.data == expected.data  # the same bytes: probabilities to the last bit


def test_csv_with_crlf_and_spaces_in_cells_gets_the_json_answer(client, linear):
    body = HEADER + "\r\n" + "\r\n".join(", ".join(f" {v!r} " for v in r) for r in ROWS) + "\r\n"
    assert as_csv(client, "linear", body).data == as_json(client, "linear", ROWS).data


def test_the_matrices_from_csv_and_json_are_identical_in_values_and_layout(linear, registry):
    schema = registry.resolve("linear").schema
    from_json, _ = schema.rows_to_matrix(ROWS, 10)
    from_csv, _ = schema.csv_to_matrix(csv_of(ROWS).encode(), 10)
    assert np.array_equal(from_json, from_csv)
    assert from_csv.dtype == from_json.dtype == np.float64
    assert from_csv.flags.c_contiguous and from_json.flags.c_contiguous


@pytest.mark.parametrize(
    "csv_row, json_row",
    [
        ("1.5,2,NA", [1.5, 2, "NA"]),  # 'NA' is a category here, not a missing value
        (",3,EU", [None, 3, "EU"]),  # an empty numeric cell is missing (imputed)
        ("NaN,1,EU", [None, 1, "EU"]),
        ("null,1,EU", [None, 1, "EU"]),
        ("true,1, EU ", [True, 1, "EU"]),  # booleans are 1/0 in both
        ("false,2,NA", [0, 2, "NA"]),
    ],
)
def test_missing_tokens_booleans_and_number_categories_mean_what_they_mean_in_json(
    client, coded, csv_row, json_row
):
    expected = as_json(client, "coded", [json_row])
    assert expected.status_code == 200, expected.json
    res = as_csv(client, "coded", "x,code,region\n" + csv_row + "\n")
    assert res.status_code == 200, res.json
    assert res.data == expected.data


@pytest.mark.parametrize("cell", ["inf", "-inf", "Infinity", "abc", "0x10", '"1,5"', "1.5."])
def test_cells_json_could_not_carry_as_numbers_are_400_naming_the_cell(client, linear, cell):
    res = as_csv(client, "linear", f"{HEADER}\n1,2,3,{cell}\n")
    assert res.status_code == 400
    assert "instances[0].petal_width" in res.json["errors"]


@pytest.mark.parametrize(
    "body, key, words",
    [
        (f'{HEADER}\n1,2,3,"4,5"\n', None, None),  # a quoted comma is one field: 200
        (f"{HEADER}\n1,2,3,4,5\n", "instances[0]", "has 5 fields, the header 4"),
        (f"{HEADER}\n1,2,3\n", "instances[0]", "has 3 fields, the header 4"),
        (f'"{HEADER}"\n1,2,3,4\n', "header.sepal_length", "missing column"),
        (f'{HEADER}\n1,2,3,4"x"\n', "instances[0].petal_width", "expected a number"),
        (f'{HEADER}\n1,2,3,"4\n', "body", None),
        (f"sepal_length ,sepal_length,{HEADER}\n", None, "duplicate CSV columns: sepal_length"),
    ],
    ids=[
        "quoted-comma",
        "too-many",
        "too-few",
        "quoted-header",
        "stray-quote",
        "open-quote",
        "dupes",
    ],
)
def test_quoting_that_makes_header_and_rows_disagree_is_400(client, linear, body, key, words):
    res = as_csv(client, "linear", body)
    if key is None and words is None:
        assert res.status_code == 400  # "4,5" is one cell: not a number
        assert "instances[0].petal_width" in res.json["errors"]
        return
    assert res.status_code == 400, res.json
    text = (
        res.json["message"]
        + " "
        + " ".join(f"{k} {v}" for k, v in res.json.get("errors", {}).items())
    )
    if key:
        assert key in res.json["errors"]
    if words:
        assert words in text


def test_a_categorical_model_gets_the_same_answer_from_csv_and_json(client, registry, mixed_model):
    est, _frame = mixed_model
    registry.add_estimator("mixed", est)
    rows = [[41.5, "paris"], [None, "nice"], [30.25, None]]
    expected = as_json(client, "mixed", rows)
    assert expected.status_code == 200, expected.json
    assert as_csv(client, "mixed", "age,city\n41.5,paris\n,nice\n30.25,\n").data == expected.data
    # columns in another order, spaces around names and cells: the same rows
    reordered = "city , age\nparis, 41.5\n nice ,\n,30.25\n"
    assert as_csv(client, "mixed", reordered).data == expected.data
