"""Per-feature training statistics recorded in a version's schema, so that a person
filling in a prediction form can see what the model was trained on.

Each feature of the schema may carry
    "statistics": {"count": int,              # non-missing training values
                   "missing": int,            # missing training values
                   "min": float, "max": float, "median": float,          # numeric
                   "frequencies": [{"value": v, "frequency": f}, ...]}   # categorical
Frequencies are fractions of the non-missing values, most frequent first, at most
MAX_CATEGORIES of them. The training endpoint records them from the training split;
a model upload from an optional sample CSV."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pandas as pd

from app.core.errors import InvalidInput

MAX_CATEGORIES = 50


def _plain(value: Any) -> Any:
    """numpy scalars as their Python value (the schema is stored as JSON)."""
    return value.item() if hasattr(value, "item") else value


def numeric_statistics(column: pd.Series) -> dict[str, Any]:
    """count, missing, min, max and median of a numeric column (NaN is missing)."""
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    if (values.isna() & column.notna()).any():
        raise InvalidInput(
            f"column {column.name!r} is numeric but holds text",
            {f"sample.{column.name}": "expected numbers"},
        )
    present = values[np.isfinite(values.to_numpy())]
    out: dict[str, Any] = {"count": int(len(present)), "missing": int(len(values) - len(present))}
    if len(present):
        out.update(
            min=float(present.min()), max=float(present.max()), median=float(present.median())
        )
    return out


def categorical_statistics(column: pd.Series) -> dict[str, Any]:
    """count, missing and the frequency of each category, most frequent first."""
    present = column[column.notna()]
    counts = present.value_counts(sort=True)
    total = int(len(present))
    frequencies = [
        {"value": _plain(value), "frequency": round(int(n) / total, 6)}
        for value, n in counts.head(MAX_CATEGORIES).items()
    ]
    return {"count": total, "missing": int(len(column) - total), "frequencies": frequencies}


def feature_statistics(frame: pd.DataFrame, types: dict[str, str]) -> dict[str, dict[str, Any]]:
    """name -> statistics for each column of `frame` named in `types` (name ->
    "numeric" | "categorical"); columns the frame does not have are left out."""
    out = {}
    for name, kind in types.items():
        if name not in frame.columns:
            continue
        column = frame[name]
        out[name] = (
            numeric_statistics(column) if kind == "numeric" else categorical_statistics(column)
        )
    return out


def with_statistics(schema: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """A copy of `schema` whose features carry their statistics over `frame`."""
    types = {f["name"]: f["type"] for f in schema["features"]}
    stats = feature_statistics(frame, types)
    if not stats:
        raise InvalidInput(
            "the sample CSV has none of the model's feature columns ("
            + ", ".join(list(types)[:10])
            + ")",
            {"sample": "no feature columns"},
        )
    return {
        **schema,
        "features": [
            {**f, "statistics": stats[f["name"]]} if f["name"] in stats else f
            for f in schema["features"]
        ],
    }


def read_sample(body: bytes) -> pd.DataFrame:
    """A sample CSV (header row of feature names) as a DataFrame; 400 when it cannot
    be read."""
    if not body.strip():
        raise InvalidInput("the sample CSV is empty", {"sample": "empty"})
    try:
        frame = pd.read_csv(io.BytesIO(body), skipinitialspace=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(
            f"the sample CSV cannot be parsed: {first}", {"sample": "unparseable"}
        ) from None
    if frame.empty:
        raise InvalidInput("the sample CSV has a header but no rows", {"sample": "no rows"})
    return frame


def check_statistics(doc: Any) -> dict[str, Any] | None:
    """An uploaded schema's statistics object, kept if it has the documented shape
    (numbers where numbers are due), else None: statistics are advisory."""
    if not isinstance(doc, dict):
        return None
    out: dict[str, Any] = {}
    for key in ("count", "missing"):
        if isinstance(doc.get(key), int) and not isinstance(doc.get(key), bool):
            out[key] = doc[key]
    for key in ("min", "max", "median"):
        value = doc.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    freqs = doc.get("frequencies")
    if isinstance(freqs, list):
        out["frequencies"] = [
            {"value": f["value"], "frequency": float(f["frequency"])}
            for f in freqs[:MAX_CATEGORIES]
            if isinstance(f, dict)
            and isinstance(f.get("value"), (str, int, float))
            and isinstance(f.get("frequency"), (int, float))
            and not isinstance(f.get("frequency"), bool)
        ]
    return out or None
