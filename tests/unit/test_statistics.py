"""Per-feature training statistics (app.core.statistics) and the schema keeping them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.core.errors import InvalidInput
from app.core.schema import check_schema
from app.core.statistics import feature_statistics, read_sample, with_statistics


def test_numeric_statistics_are_min_max_median_and_counts():
    frame = pd.DataFrame({"age": [30.0, 10.0, np.nan, 20.0, np.inf]})
    stats = feature_statistics(frame, {"age": "numeric"})["age"]
    assert stats == {"count": 3, "missing": 2, "min": 10.0, "max": 30.0, "median": 20.0}


def test_categorical_frequencies_are_fractions_most_frequent_first():
    frame = pd.DataFrame({"city": ["lyon", "paris", "paris", None, "paris", "nice"]})
    stats = feature_statistics(frame, {"city": "categorical"})["city"]
    assert stats["count"] == 5 and stats["missing"] == 1
    assert stats["frequencies"][0] == {"value": "paris", "frequency": 0.6}
    assert {f["value"] for f in stats["frequencies"]} == {"paris", "lyon", "nice"}
    assert sum(f["frequency"] for f in stats["frequencies"]) == pytest.approx(1.0)


def test_integer_categories_stay_numbers_in_the_json():
    stats = feature_statistics(pd.DataFrame({"k": np.array([1, 1, 2])}), {"k": "categorical"})["k"]
    assert stats["frequencies"][0]["value"] == 1 and type(stats["frequencies"][0]["value"]) is int


def test_an_all_missing_numeric_column_has_counts_only():
    stats = feature_statistics(pd.DataFrame({"x": [np.nan, np.nan]}), {"x": "numeric"})["x"]
    assert stats == {"count": 0, "missing": 2}


def test_with_statistics_attaches_to_the_features_the_frame_has():
    schema = {"features": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}]}
    out = with_statistics(schema, pd.DataFrame({"a": [1.0, 3.0]}))
    assert out["features"][0]["statistics"]["median"] == 2.0
    assert "statistics" not in out["features"][1]
    assert "statistics" not in schema["features"][0]  # the input is not changed


def test_with_statistics_refuses_a_sample_without_feature_columns():
    schema = {"features": [{"name": "a", "type": "numeric"}]}
    with pytest.raises(InvalidInput, match="none of the model's feature columns"):
        with_statistics(schema, pd.DataFrame({"z": [1]}))


def test_text_in_a_numeric_sample_column_is_a_400_naming_it():
    schema = {"features": [{"name": "a", "type": "numeric"}]}
    with pytest.raises(InvalidInput) as info:
        with_statistics(schema, read_sample(b"a\n1\nabc\n"))
    assert "sample.a" in info.value.errors


@pytest.mark.parametrize("body", [b"", b"a,b\n", b"\xff\xfe\x00"])
def test_unreadable_samples_are_refused(body):
    with pytest.raises(InvalidInput):
        read_sample(body)


def test_check_schema_keeps_well_formed_statistics_and_drops_junk():
    doc = {
        "features": [
            {
                "name": "a",
                "type": "numeric",
                "statistics": {"min": 1, "max": 2.5, "median": "x", "count": 4},
            },
            {
                "name": "c",
                "type": "categorical",
                "categories": ["u"],
                "statistics": {"frequencies": [{"value": "u", "frequency": 1.0}, {"value": [1]}]},
            },
            {"name": "d", "type": "numeric", "statistics": "nonsense"},
        ]
    }
    out = check_schema(doc)["features"]
    assert out[0]["statistics"] == {"count": 4, "min": 1.0, "max": 2.5}
    assert out[1]["statistics"] == {"frequencies": [{"value": "u", "frequency": 1.0}]}
    assert "statistics" not in out[2]


def test_the_example_row_uses_the_median_and_the_most_frequent_category():
    from app.core.schema import CompiledSchema

    schema = with_statistics(
        {
            "features": [
                {"name": "age", "type": "numeric"},
                {"name": "city", "type": "categorical", "categories": ["lyon", "paris"]},
            ]
        },
        pd.DataFrame({"age": [10.0, 20.0, 90.0], "city": ["paris", "paris", "lyon"]}),
    )
    assert CompiledSchema.from_doc(schema).example_instance() == {"age": 20.0, "city": "paris"}
