"""Column profiles: what spec validation needs to know about a dataset without reading
its data again.

Numbers and booleans are numeric (booleans as 0/1); anything else is categorical."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal, TypedDict

import pandas as pd

ColumnKind = Literal["bool", "int", "float", "str"]


class ColumnProfile(TypedDict):
    name: str
    type: Literal["numeric", "categorical"]
    dtype: ColumnKind
    n_unique: int
    n_missing: int


def column_kind(series: pd.Series) -> ColumnKind:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    return "str"


def profile_columns(frame: pd.DataFrame) -> list[ColumnProfile]:
    """One profile per column, in column order."""
    out: list[ColumnProfile] = []
    for name in frame.columns:
        col = frame[name]
        kind = column_kind(col)
        out.append(
            {
                "name": str(name),
                "type": "categorical" if kind == "str" else "numeric",
                "dtype": kind,
                "n_unique": int(col.nunique(dropna=True)),
                "n_missing": int(col.isna().sum()),
            }
        )
    return out


def frame_sha256(frame: pd.DataFrame) -> str:
    """A stable digest of a DataFrame's content (its CSV rendering)."""
    return hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()


@dataclass
class DatasetInfo:
    """A dataset as validation sees it: an id, its column profiles, its row count and
    the default target (bundled datasets and uploads name one)."""

    id: str | int
    columns: list[ColumnProfile]
    n_rows: int
    target: str | None = None
    sha256: str | None = None

    @classmethod
    def from_frame(
        cls,
        id: str | int,
        frame: pd.DataFrame,
        target: str | None = None,
        sha256: str | None = None,
    ) -> DatasetInfo:
        return cls(id, profile_columns(frame), len(frame), target, sha256)

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c["name"] == name), None)
