"""The datasets scikit-learn ships, offered for training by name ("iris")."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from app.core.datasets.profile import DatasetInfo, frame_sha256
from app.core.errors import InvalidInput

BUNDLED_TARGET = "target"


@dataclass(frozen=True)
class BundledDataset:
    loader: str  # a function of sklearn.datasets
    task: Literal["classification", "regression"]
    description: str


BUNDLED: dict[str, BundledDataset] = {
    "iris": BundledDataset(
        "load_iris", "classification", "Iris flowers: 150 rows, 4 measurements, 3 species"
    ),
    "wine": BundledDataset(
        "load_wine",
        "classification",
        "Wine recognition: 178 rows, 13 chemical measurements, 3 cultivars",
    ),
    "breast_cancer": BundledDataset(
        "load_breast_cancer",
        "classification",
        "Breast cancer Wisconsin: 569 rows, 30 features, malignant or benign",
    ),
    "diabetes": BundledDataset(
        "load_diabetes",
        "regression",
        "Diabetes progression: 442 rows, 10 baseline variables, "
        "a disease progression score (regression)",
    ),
}


def _load_frame(meta: BundledDataset) -> pd.DataFrame:
    from sklearn import datasets

    bunch = getattr(datasets, meta.loader)(as_frame=True)
    frame: pd.DataFrame = bunch.frame.copy()
    if meta.task == "classification":  # class names rather than codes: predictions read "setosa"
        names = np.asarray(bunch.target_names, dtype=object)
        frame[BUNDLED_TARGET] = names[frame[BUNDLED_TARGET].to_numpy()]
    return frame


@functools.cache
def _cached(name: str) -> tuple[pd.DataFrame, str]:
    frame = _load_frame(BUNDLED[name])
    return frame, frame_sha256(frame)


def load_bundled(name: str) -> pd.DataFrame:
    """A bundled dataset as a DataFrame (a copy: callers may change it)."""
    if name not in BUNDLED:
        raise InvalidInput(
            f"unknown bundled dataset {name!r}; known: {', '.join(BUNDLED)}",
            {"dataset": "unknown dataset"},
        )
    frame: pd.DataFrame = _cached(name)[0].copy()
    return frame


def bundled_info(name: str) -> DatasetInfo:
    load_bundled(name)  # raises for unknown names
    frame, digest = _cached(name)
    return DatasetInfo.from_frame(name, frame, BUNDLED_TARGET, digest)


def bundled_catalogue() -> list[dict[str, Any]]:
    out = []
    for name, meta in BUNDLED.items():
        info = bundled_info(name)
        out.append(
            {
                "id": name,
                "name": name,
                "description": meta.description,
                "target": info.target,
                "n_rows": info.n_rows,
                "sha256": info.sha256,
                "task": meta.task,
                "columns": info.columns,
            }
        )
    return out
