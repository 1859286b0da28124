"""NumPy replay of scikit-learn's transformers (SimpleImputer, StandardScaler,
MinMaxScaler, OneHotEncoder, ColumnTransformer, Pipeline): the same expressions on
arrays of the same dtype and memory layout as scikit-learn's own `transform`, without
its per-call validation. Whether a replay is exact is not assumed: `verify` proves it
per model version before it serves."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.fastpath.contract import Unsupported

Array = npt.NDArray[Any]


class Columns:
    """The rows a model receives, as the columns scikit-learn would read from the
    DataFrame the runtime builds: numeric features as float64, categorical ones as
    objects with NaN for a missing value. A selection is Fortran-ordered, as pandas
    hands a DataFrame's block to scikit-learn (and BLAS results depend on layout)."""

    __slots__ = ("columns", "numeric", "n_rows")

    def __init__(self, matrix: Array, numeric: Sequence[bool]):
        self.n_rows = matrix.shape[0]
        self.numeric = list(numeric)
        self.columns: list[Array] = []
        for j, is_numeric in enumerate(self.numeric):
            col = matrix[:, j]
            if is_numeric:
                self.columns.append(col.astype(np.float64))
            else:
                obj = col.astype(object)
                obj[_is_missing(obj)] = np.nan
                self.columns.append(obj)

    def select(self, indices: Sequence[int]) -> Array:
        all_numeric = all(self.numeric[i] for i in indices)
        out = np.empty(
            (self.n_rows, len(indices)), dtype=np.float64 if all_numeric else object, order="F"
        )
        for k, i in enumerate(indices):
            out[:, k] = self.columns[i]
        return out

    def whole(self) -> Array:
        return self.select(range(len(self.columns)))


Data = Array | Columns
Transform = Callable[[Data], Array]


def _is_missing(col: Array) -> npt.NDArray[np.bool_]:
    """None or NaN, as pandas' `notna` sees them when the runtime builds its DataFrame."""
    import pandas as pd

    missing: npt.NDArray[np.bool_] = pd.isna(col)
    return missing


def _array(X: Data) -> Array:
    return X.whole() if isinstance(X, Columns) else X


def _float_copy(X: Data) -> Array:
    """validate_data(copy=True, dtype=float64): a float64 copy in the input's layout."""
    arr = _array(X)
    return np.array(arr, dtype=np.float64, order="K", copy=True)


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise Unsupported(reason)


def compile_transformer(est: Any, densified: bool = False) -> Transform:
    """The replay of one fitted transformer, or Unsupported naming what is not replayed.
    `densified`: its output goes to a dense ColumnTransformer, which densifies sparse
    output (`toarray`): a sparse one-hot encoder's ones and zeros are then replayed dense."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

    compilers: dict[type, Callable[[Any, bool], Transform]] = {
        SimpleImputer: _simple_imputer,
        StandardScaler: _standard_scaler,
        MinMaxScaler: _min_max_scaler,
        OneHotEncoder: _one_hot_encoder,
        ColumnTransformer: _column_transformer,
        Pipeline: _pipeline_transform,
    }
    compiler = compilers.get(type(est))
    if compiler is None:
        raise Unsupported(f"no compiled form for the transformer {type(est).__name__}")
    _require(
        getattr(est, "_sklearn_output_config", {}).get("transform", "default") == "default",
        f"{type(est).__name__} has set_output: only NumPy output is replayed",
    )
    return compiler(est, densified)


def compile_steps(steps: Sequence[Any], densified: bool = False) -> Transform:
    """A chain of transformers (a Pipeline's steps before its final estimator); only
    the last one's output may be densified."""
    kept = [s for s in steps if s is not None and s != "passthrough"]
    replays = [compile_transformer(s, densified and i == len(kept) - 1) for i, s in enumerate(kept)]

    def chain(X: Data) -> Array:
        out: Data = X
        for replay in replays:
            out = replay(out)
        return _array(out)

    return chain


def _pipeline_transform(est: Any, densified: bool) -> Transform:
    return compile_steps([s for _, s in est.steps], densified)


def _simple_imputer(est: Any, _densified: bool) -> Transform:
    from sklearn.utils._mask import _get_mask

    _require(not est.add_indicator, "SimpleImputer(add_indicator=True) is not replayed")
    statistics = est.statistics_
    _require(
        est.keep_empty_features or not _get_mask(statistics, np.nan).any(),
        "SimpleImputer has features without observed values (dropped columns)",
    )
    numeric_strategy = est.strategy in ("mean", "median")
    missing_values = est.missing_values
    fill = statistics

    def impute(X: Data) -> Array:
        arr = _array(X)
        if numeric_strategy or arr.dtype.kind == "f":
            arr = np.array(arr, dtype=np.float64, order="K", copy=True)
        else:
            arr = arr.copy(order="K")
        mask = _get_mask(arr, missing_values)
        if mask.any():
            rows, cols = np.nonzero(mask)
            arr[rows, cols] = fill.astype(arr.dtype, copy=False)[cols]
        return arr

    return impute


def _standard_scaler(est: Any, _densified: bool) -> Transform:
    mean = est.mean_ if est.with_mean else None
    scale = est.scale_ if est.with_std else None

    def standardise(X: Data) -> Array:
        arr = _float_copy(X)
        if mean is not None:
            arr -= mean.astype(arr.dtype)
        if scale is not None:
            arr /= scale.astype(arr.dtype)
        return arr

    return standardise


def _min_max_scaler(est: Any, _densified: bool) -> Transform:
    scale, minimum, clip = est.scale_, est.min_, est.clip
    low, high = est.feature_range

    def rescale(X: Data) -> Array:
        arr = _float_copy(X)
        arr *= scale
        arr += minimum
        if clip:
            np.clip(arr, low, high, out=arr)
        return arr

    return rescale


class _Encoding:
    """One feature of a one-hot encoder: category value -> output column (after
    infrequent grouping), where unknown values go, and the NaN category's column."""

    def __init__(self, est: Any, i: int, offset: int):
        cats = est.categories_[i]
        mapping = est._default_to_infrequent_mappings[i] if est._infrequent_enabled else None
        infrequent = est._infrequent_indices[i] if est._infrequent_enabled else None

        def column(index: int) -> int:
            return offset + int(mapping[index] if mapping is not None else index)

        self.table: dict[Any, int] = {}
        self.nan_column: int | None = None
        for k, c in enumerate(cats):
            if isinstance(c, float) and math.isnan(c):
                self.nan_column = column(k)
            else:
                self.table[c.item() if isinstance(c, np.generic) else c] = column(k)
        self.unknown: int | None = None
        if infrequent is not None:
            self.unknown = column(int(infrequent[0]))
        self.raises = est.handle_unknown == "error"

    def column_of(self, value: Any) -> int:
        """A value the table does not hold: NaN's column, the infrequent column for an
        unknown value, or -1 (all zeros)."""
        if isinstance(value, float) and math.isnan(value) and self.nan_column is not None:
            return self.nan_column
        if self.raises:
            raise ValueError(f"Found unknown category {value!r} during transform")
        return -1 if self.unknown is None else self.unknown

    def columns_of(self, values: list[Any]) -> npt.NDArray[np.intp]:
        get = self.table.get
        found = [get(v, -2) for v in values]  # one dict lookup per value, as sklearn's
        for r, col in enumerate(found):
            if col == -2:
                found[r] = self.column_of(values[r])
        return np.array(found, dtype=np.intp)


def _one_hot_encoder(est: Any, densified: bool) -> Transform:
    _require(
        not est.sparse_output or densified,
        "OneHotEncoder(sparse_output=True) is only replayed inside a dense ColumnTransformer",
    )
    _require(est.drop is None, "OneHotEncoder(drop=...) is not replayed")
    _require(
        est.handle_unknown in ("ignore", "infrequent_if_exist", "error"),
        f"OneHotEncoder(handle_unknown={est.handle_unknown!r}) is not replayed",
    )
    offsets = np.cumsum([0, *est._n_features_outs])
    encodings = [_Encoding(est, i, int(offsets[i])) for i in range(len(est.categories_))]
    width, dtype = int(offsets[-1]), est.dtype

    def encode(X: Data) -> Array:
        arr = _array(X)
        out = np.zeros((arr.shape[0], width), dtype=dtype)
        for j, enc in enumerate(encodings):
            cols = enc.columns_of(arr[:, j].tolist())
            rows = np.flatnonzero(cols >= 0)
            out[rows, cols[rows]] = 1
        return out

    return encode


def _column_transformer(est: Any, _densified: bool) -> Transform:
    _require(not est.sparse_output_, "ColumnTransformer with sparse output is not replayed")
    parts: list[tuple[list[int], Transform | None]] = []
    for name, trans, _cols in est.transformers_:
        indices = list(est._transformer_to_input_indices.get(name, []))
        if trans == "drop" or not indices:
            continue
        if trans == "passthrough" or _is_passthrough(trans):
            parts.append((indices, None))
        else:
            parts.append((indices, compile_transformer(trans, densified=True)))

    def transform(X: Data) -> Array:
        outs = []
        for indices, replay in parts:
            block = X.select(indices) if isinstance(X, Columns) else X[:, indices]
            outs.append(block if replay is None else replay(block))
        if not outs:
            return np.zeros((X.n_rows if isinstance(X, Columns) else X.shape[0], 0))
        return np.hstack(outs)

    return transform


def _is_passthrough(trans: Any) -> bool:
    from sklearn.preprocessing import FunctionTransformer

    return type(trans) is FunctionTransformer and trans.func is None
