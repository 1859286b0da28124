"""The rows a compiled predictor is tried on before it may serve: the schema's
example, its training statistics (min, median, max, frequent categories), uniform rows
over each feature's range, a missing value in each column that takes one, unseen
categories where the model takes them, signed zeros and large magnitudes. Every row is
a valid request row: it goes through the schema like any client's."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.core.schema import CompiledSchema, Feature

UNSEEN = "\x00unseen category"
EDGE_VALUES = (0.0, -0.0, 1e-300, -1e-300, 1e15, -1e15, 1e300, -1e300)
UNIFORM_ROWS = 64


def _range(feature: Feature) -> tuple[float, float]:
    stats = feature.get("statistics") or {}
    low, high = stats.get("min"), stats.get("max")
    if isinstance(low, (int, float)) and isinstance(high, (int, float)) and low <= high:
        return float(low), float(high)
    example = feature.get("example")
    centre = float(example) if isinstance(example, (int, float)) else 0.0
    return centre - 10.0, centre + 10.0


def _values(feature: Feature, rng: np.random.Generator) -> list[Any]:
    """Values worth trying for one feature, beyond its uniform draws."""
    if feature["type"] == "categorical":
        values: list[Any] = list(feature.get("categories") or [])
        if feature.get("allow_unknown"):
            values += [UNSEEN, "", 0]
    else:
        low, high = _range(feature)
        stats = feature.get("statistics") or {}
        values = [low, high, (low + high) / 2, *EDGE_VALUES]
        if isinstance(stats.get("median"), (int, float)):
            values.append(float(stats["median"]))
        values += rng.uniform(low, high, 4).tolist()
    if feature.get("nullable"):
        values.append(None)
    return values


def probe_instances(schema: CompiledSchema, seed: int = 0) -> list[dict[str, Any]]:
    """The probe rows as request instances (objects keyed by feature name)."""
    rng = np.random.default_rng(seed)
    example = schema.example_instance()
    rows: list[dict[str, Any]] = [dict(example)]
    for f in schema.features:  # one feature varied at a time, the rest as the example
        for value in _values(f, rng):
            rows.append({**example, f["name"]: value})
    for _ in range(UNIFORM_ROWS):  # every feature drawn at once
        row: dict[str, Any] = {}
        for f in schema.features:
            if f["type"] == "categorical":
                cats = _values(f, rng)
                row[f["name"]] = cats[int(rng.integers(len(cats)))]
            else:
                low, high = _range(f)
                row[f["name"]] = float(rng.uniform(low, high))
        rows.append(row)
    return rows


def probe_matrix(schema: CompiledSchema, seed: int = 0) -> np.ndarray:
    instances = probe_instances(schema, seed)
    matrix, _ = schema.rows_to_matrix(instances, len(instances))
    return matrix
