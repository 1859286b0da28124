"""The pipeline a training job fits (preprocessing + estimator), the data as it is fed
to it, and the service's feature schema read back from a fitted one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from app.core.datasets import ColumnProfile, column_kind


def build_pipeline(columns: list[ColumnProfile], estimator: Any) -> Any:
    """One Pipeline: a ColumnTransformer keyed by column name (numeric: median impute +
    scale; categorical: most-frequent impute + one-hot, unknown categories encoded as
    all zeros) followed by the estimator. Fit it on a DataFrame."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c["name"] for c in columns if c["type"] == "numeric"]
    categorical = [c["name"] for c in columns if c["type"] == "categorical"]
    transformers = []
    if numeric:
        transformers.append(
            (
                "numeric",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler()),
                    ]
                ),
                numeric,
            )
        )
    if categorical:
        transformers.append(
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        # the service hands missing categories over as None rather than NaN
                        (
                            "impute_none",
                            SimpleImputer(missing_values=None, strategy="most_frequent"),
                        ),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                max_categories=100,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return Pipeline(
        [
            ("preprocess", ColumnTransformer(transformers, remainder="drop")),
            ("model", estimator),
        ]
    )


def prepare_features(frame: pd.DataFrame, columns: list[ColumnProfile]) -> pd.DataFrame:
    """Numeric columns as float64 (booleans 0/1), categorical as object with NaN for
    missing: the dtypes the service's runtime hands the pipeline at prediction time."""
    out = {}
    for c in columns:
        col = frame[c["name"]]
        if c["type"] == "numeric":
            out[c["name"]] = col.astype("float64")
        else:
            obj = col.astype(object)
            out[c["name"]] = obj.where(obj.notna(), np.nan)
    return pd.DataFrame(out, index=frame.index)


def prepare_target(y: pd.Series, task: str) -> np.ndarray[Any, Any]:
    if task == "regression":
        return np.asarray(y.to_numpy(dtype="float64"))
    kind = column_kind(y)
    if kind == "float" and np.all(np.mod(y.to_numpy(), 1) == 0):
        return np.asarray(y.to_numpy().astype("int64"))  # 1.0/2.0 read from a CSV: classes 1 and 2
    if kind in ("int", "float", "bool"):
        return np.asarray(y.to_numpy())
    return np.asarray(y.astype(object).to_numpy(dtype=object))


def jsonable(value: Any) -> Any:
    """A numpy scalar as the Python value JSON can carry."""
    return value.item() if isinstance(value, np.generic) else value


def feature_schema(pipeline: Any, columns: list[ColumnProfile]) -> dict[str, Any]:
    """The service's feature schema for a pipeline built by build_pipeline and fitted."""
    categories = _categories(pipeline)
    features: list[dict[str, Any]] = []
    for c in columns:
        if c["type"] == "categorical":
            features.append(
                {
                    "name": c["name"],
                    "type": "categorical",
                    "categories": categories[c["name"]],
                    "allow_unknown": True,
                    "nullable": True,
                }
            )
        else:
            features.append({"name": c["name"], "type": "numeric", "nullable": True})
    return {"features": features}


def _categories(pipeline: Any) -> dict[str, list[Any]]:
    """Each categorical column's categories as the fitted one-hot encoder learnt them."""
    categories: dict[str, list[Any]] = {}
    for name, trans, cols in pipeline.named_steps["preprocess"].transformers_:
        if name == "categorical":
            enc = trans.named_steps["onehot"]
            for col, cats in zip(cols, enc.categories_, strict=True):
                categories[col] = [
                    jsonable(c) for c in cats if not (isinstance(c, float) and math.isnan(c))
                ]
    return categories
