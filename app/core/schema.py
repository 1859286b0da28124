"""Feature schema: derive it from an estimator, check an uploaded one, and turn
request rows into the array (or DataFrame) the estimator takes.

A schema is plain JSON:
    {"features": [{"name": str, "type": "numeric" | "categorical",
                   "categories": [...],      # categorical only: the known values
                   "allow_unknown": bool,    # unseen categories are handled by the model
                   "nullable": bool,         # missing values are handled by the model
                   "example": value,         # optional: shown in the example request
                   "statistics": {...}}]}    # optional: training statistics (app.core.statistics)
Feature order is the column order the estimator was fitted on.

The hot path tries a vectorised conversion first and only walks the rows one by one
to explain what is wrong when that fails, so valid requests pay almost nothing.
"""

from __future__ import annotations

import itertools
import math
import re
import reprlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.errors import InvalidInput, PayloadTooLarge
from app.core.statistics import check_statistics

MAX_REPORTED_ERRORS = 20
MAX_SUGGESTIONS = 3  # "did you mean" is computed for the first few unknown names only
Feature = dict[str, Any]  # one entry of a schema's "features" list (above)
SchemaDoc = dict[str, Any]  # {"features": [Feature, ...]}
_FEATURE_NAME = re.compile(r"[^\x00-\x1f]{1,256}")  # fullmatch: no trailing newline
# from this many array rows on, np.fromiter reads rows proven free of strings faster
# than np.array discovers their type (docs/performance.md, "Reading array rows")
FROMITER_MIN_ROWS = 8


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_string_free_rows(rows: list[Any], k: int) -> np.ndarray | None:
    """Array rows of `k` values, none of them a str, as a float64 matrix in one pass.
    np.fromiter converts each value with float(), which would turn "1.5" into 1.5:
    hence the caller's proof that there is no string. Booleans become 1/0 as on
    np.array's way and the slow path's; None becomes NaN, which `_finite` sends to
    the slow path; a nested list or an object raises ValueError or TypeError."""
    if set(map(len, rows)) != {k}:
        return None
    flat = np.fromiter(itertools.chain.from_iterable(rows), np.float64, len(rows) * k)
    return flat.reshape(len(rows), k)


def _finite(arr: np.ndarray | None) -> np.ndarray | None:
    """`arr` when every value is finite; None (the slow path explains) otherwise."""
    if arr is None or not np.isfinite(arr).all():
        return None
    return arr


def _is_imputer(step: Any) -> bool:
    return type(step).__name__ in ("SimpleImputer", "KNNImputer", "IterativeImputer")


def _column_transformer_features(estimator: Any) -> dict[str, dict[str, Any]]:
    """Columns routed by ColumnTransformers inside the estimator: name -> feature
    fields. Columns through an encoder are categorical (with the fitted categories);
    a column whose transformer starts with an imputer is nullable."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    found: dict[str, dict[str, Any]] = {}

    def steps_of(est: Any) -> list[Any]:
        if isinstance(est, Pipeline):
            return [s for _, s in est.steps]
        return [est]

    def walk(est: Any) -> None:
        for step in steps_of(est):
            if isinstance(step, ColumnTransformer) and hasattr(step, "transformers_"):
                for _name, trans, cols in step.transformers_:
                    if trans in ("drop", "passthrough") or not isinstance(
                        cols, (list, tuple, np.ndarray)
                    ):
                        continue
                    inner = steps_of(trans)
                    encoders = [s for s in inner if isinstance(s, (OneHotEncoder, OrdinalEncoder))]
                    imputed = _is_imputer(inner[0]) if inner else False
                    if not encoders:
                        for col in cols:
                            found[str(col)] = {"type": "numeric", "nullable": imputed}
                        continue
                    enc = encoders[-1]
                    unknown = getattr(enc, "handle_unknown", "error") != "error"
                    for col, cats in zip(cols, enc.categories_, strict=True):
                        values = [
                            _jsonable(c)
                            for c in cats
                            if not (isinstance(c, float) and math.isnan(c))
                        ]
                        found[str(col)] = {
                            "type": "categorical",
                            "categories": values,
                            "allow_unknown": unknown,
                            "nullable": imputed or len(values) < len(cats),
                        }

    walk(estimator)
    return found


def _handles_missing(estimator: Any) -> bool:
    """Whether the estimator takes NaN itself (an imputer first, or a model that
    supports missing values natively)."""
    from sklearn.pipeline import Pipeline

    first = estimator.steps[0][1] if isinstance(estimator, Pipeline) else estimator
    if _is_imputer(first):
        return True
    try:
        return bool(first.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False


def derive_schema(estimator: Any, feature_names: list[str] | None = None) -> SchemaDoc:
    """The input schema from a fitted estimator: `feature_names_in_` (or the names
    given, or x0..xn-1 from `n_features_in_`) and fitted encoders' categories."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
    elif feature_names is not None:
        names = list(feature_names)
    else:
        n = getattr(estimator, "n_features_in_", None)
        if n is None:
            raise InvalidInput(
                "cannot derive an input schema: the estimator has no "
                "feature_names_in_ or n_features_in_; upload a schema JSON"
            )
        names = [f"x{i}" for i in range(int(n))]
    routed = _column_transformer_features(estimator)
    nullable = _handles_missing(estimator)
    features = []
    for name in names:
        if name in routed:
            features.append({"name": name, **routed[name]})
        else:
            features.append({"name": name, "type": "numeric", "nullable": nullable})
    return {"features": features}


def check_schema(doc: Any, n_features: int | None = None) -> SchemaDoc:
    """Validate an uploaded schema document and return it normalised."""
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("features"), list)
        or not doc["features"]
    ):
        raise InvalidInput("schema must be an object with a non-empty 'features' list")
    errors: dict[str, str] = {}
    out = []
    seen: set[str] = set()
    for i, feat in enumerate(doc["features"]):
        key = f"features[{i}]"
        if isinstance(feat, str):
            feat = {"name": feat, "type": "numeric"}
        if not isinstance(feat, dict):
            errors[key] = "must be an object with 'name' and 'type'"
            continue
        name = feat.get("name")
        ftype = feat.get("type", "numeric")
        if not isinstance(name, str) or not _FEATURE_NAME.fullmatch(name):
            errors[f"{key}.name"] = "must be a non-empty string of at most 256 printable characters"
            continue
        if name in seen:
            errors[f"{key}.name"] = f"duplicate feature name {name!r}"
            continue
        seen.add(name)
        if ftype not in ("numeric", "categorical"):
            errors[f"{key}.type"] = "must be 'numeric' or 'categorical'"
            continue
        item = {"name": name, "type": ftype, "nullable": bool(feat.get("nullable", False))}
        if "example" in feat:
            item["example"] = feat["example"]
        stats = check_statistics(feat.get("statistics"))
        if stats:
            item["statistics"] = stats
        if ftype == "categorical":
            cats = feat.get("categories")
            if (
                not isinstance(cats, list)
                or not cats
                or not all(
                    isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in cats
                )
            ):
                errors[f"{key}.categories"] = (
                    "a categorical feature needs a non-empty list of string or number categories"
                )
                continue
            item["categories"] = cats
            item["allow_unknown"] = bool(feat.get("allow_unknown", False))
        out.append(item)
    if errors:
        raise InvalidInput("invalid schema", errors)
    if n_features is not None and len(out) != n_features:
        raise InvalidInput(f"schema lists {len(out)} features but the model takes {n_features}")
    return {"features": out}


@dataclass
class CompiledSchema:
    """A schema prepared for the hot path."""

    features: list[Feature]
    names: list[str] = field(init=False)
    index: dict[str, int] = field(init=False)
    all_numeric: bool = field(init=False)
    any_nullable: bool = field(init=False)
    category_sets: dict[str, set[Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.names = [f["name"] for f in self.features]
        self.index = {n: i for i, n in enumerate(self.names)}
        self.all_numeric = all(f["type"] == "numeric" for f in self.features)
        self.any_nullable = any(f.get("nullable") for f in self.features)
        self.category_sets = {
            f["name"]: set(f["categories"]) for f in self.features if f["type"] == "categorical"
        }

    @classmethod
    def from_doc(cls, doc: SchemaDoc) -> CompiledSchema:
        return cls(doc["features"])

    # ---- examples -------------------------------------------------------------
    def example_instance(self) -> dict[str, Any]:
        """A valid row: each feature's recorded example, else its training median or
        most frequent category, else a known category or 0."""
        row: dict[str, Any] = {}
        for f in self.features:
            stats = f.get("statistics") or {}
            frequent = [
                x["value"]
                for x in stats.get("frequencies", [])
                if x["value"] in f.get("categories", [])
            ]
            if "example" in f:
                row[f["name"]] = f["example"]
            elif f["type"] == "categorical":
                row[f["name"]] = frequent[0] if frequent else f["categories"][0]
            else:
                row[f["name"]] = stats.get("median", 0.0)
        return row

    # ---- JSON rows -----------------------------------------------------------
    def rows_to_matrix(
        self, instances: Any, max_rows: int, *, no_strings: bool = False
    ) -> tuple[np.ndarray, int]:
        """Validate `instances` (objects keyed by feature name, or arrays in schema
        order) and return (matrix, n_rows). All-numeric schemas give a float64 array;
        schemas with categorical features give an object array. Raises InvalidInput
        naming every problem found (up to MAX_REPORTED_ERRORS). `no_strings`: the
        caller proved that no value in `instances` is a str (see
        `jsonbody.only_keys_are_strings`), which lets array rows skip type discovery."""
        if not isinstance(instances, list):
            raise InvalidInput(
                "'instances' must be a list of rows", {"instances": "expected a list"}
            )
        n = len(instances)
        if n == 0:
            raise InvalidInput(
                "'instances' is empty: send at least one row", {"instances": "empty list"}
            )
        if n > max_rows:
            raise PayloadTooLarge(f"{n} rows exceed the limit of {max_rows} rows per request")
        if self.all_numeric:
            fast = self._fast_numeric(instances, no_strings)
            if fast is not None:
                return fast, n
        return self._slow(instances), n

    def _fast_numeric(self, instances: list[Any], no_strings: bool) -> np.ndarray | None:
        k = len(self.names)
        first = instances[0]
        try:
            if isinstance(first, dict):
                names = self.names
                if not all(type(r) is dict and len(r) == k for r in instances):
                    return None
                rows = [[r[name] for name in names] for r in instances]
            elif no_strings and len(instances) >= FROMITER_MIN_ROWS:
                return _finite(_read_string_free_rows(instances, k))
            else:
                rows = instances
            arr = np.array(rows)
        except (KeyError, ValueError, TypeError):
            return None
        if arr.ndim != 2 or arr.shape[1] != k or arr.dtype.kind not in "fiu":
            return None
        return _finite(arr.astype(np.float64, copy=False))

    def _slow(self, instances: list[Any]) -> np.ndarray:
        k = len(self.names)
        errors: dict[str, str] = {}
        out = np.empty((len(instances), k), dtype=np.float64 if self.all_numeric else object)

        suggestions = 0

        def err(key: str, msg: str) -> None:
            if len(errors) < MAX_REPORTED_ERRORS:
                errors[key] = msg

        def unknown(name: Any, missing: list[str]) -> str:
            # "did you mean" only for the first few unknown names that are reported
            nonlocal suggestions
            if len(errors) >= MAX_REPORTED_ERRORS or suggestions >= MAX_SUGGESTIONS:
                return "unknown feature"
            suggestions += 1
            return "unknown feature" + self.did_you_mean(name, missing)

        for i, row in enumerate(instances):
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            key = f"instances[{i}]"
            if isinstance(row, dict):
                missing = [n for n in self.names if n not in row]
                extra = [c for c in row if c not in self.index]
                for name in missing:
                    err(f"{key}.{name}", "missing feature")
                for name in extra:
                    err(f"{key}.{name}", unknown(name, missing))
                if missing or extra:
                    continue
                values = [row[n] for n in self.names]
            elif isinstance(row, list):
                if len(row) != k:
                    err(
                        key,
                        f"expected {k} values in schema order ({', '.join(self.names)}), got {len(row)}",
                    )
                    continue
                values = row
            else:
                err(
                    key, "a row must be an object keyed by feature name or an array in schema order"
                )
                continue
            for j, (feat, value) in enumerate(zip(self.features, values, strict=True)):
                problem, converted = self._convert(feat, value)
                if problem:
                    err(f"{key}.{feat['name']}", problem)
                else:
                    out[i, j] = converted
        if errors:
            raise InvalidInput("the instances do not match the model's input schema", errors)
        return out

    @staticmethod
    def did_you_mean(name: Any, candidates: list[str]) -> str:
        import difflib

        close = difflib.get_close_matches(str(name), candidates, n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def _convert(self, feat: Feature, value: Any) -> tuple[str | None, Any]:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if feat.get("nullable"):
                return None, np.nan if feat["type"] == "numeric" else None
            return "missing value: this feature is required", None
        if feat["type"] == "numeric":
            # JSON booleans count as 1/0, as numpy converts them on the fast path
            if not isinstance(value, (int, float)):
                return f"expected a number, got {type(value).__name__} {_short(value)}", None
            value = float(value)
            if not math.isfinite(value):
                return "must be a finite number", None
            return None, value
        cats = self.category_sets[feat["name"]]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return f"expected a category (string), got {type(value).__name__}", None
        if value not in cats and not feat.get("allow_unknown"):
            shown = ", ".join(map(repr, feat["categories"][:10]))
            more = (
                "" if len(feat["categories"]) <= 10 else f" and {len(feat['categories']) - 10} more"
            )
            return f"unknown category {_short(value)}; known: {shown}{more}", None
        return None, value

    # ---- CSV -------------------------------------------------------------------
    def csv_to_matrix(self, body: bytes, max_rows: int) -> tuple[np.ndarray, int]:
        """A CSV body with a header row of feature names (any order): the rows a JSON
        body would carry (app.core.csvbody), converted as a JSON body's are."""
        from app.core.csvbody import csv_rows, numeric_matrix

        if self.all_numeric:
            matrix = numeric_matrix(self, body, max_rows)
            if matrix is not None:
                return matrix, len(matrix)
        return self.rows_to_matrix(csv_rows(self, body, max_rows), max_rows)


_SHORT = reprlib.Repr()  # keyword arguments only from Python 3.12
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 36, 36


def _short(value: Any) -> str:
    """A client's value quoted in a message: bounded in size and depth (reprlib does
    not recurse into a deeply nested list, where repr would overflow the stack)."""
    text = _SHORT.repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
