"""Datasets for training: the bundled scikit-learn ones, uploaded CSVs (reading and the
store), and the column profiles spec validation works from."""

from app.core.datasets.bundled import (
    BUNDLED,
    BUNDLED_TARGET,
    BundledDataset,
    bundled_catalogue,
    bundled_info,
    load_bundled,
)
from app.core.datasets.csv_reader import read_csv
from app.core.datasets.profile import (
    ColumnKind,
    ColumnProfile,
    DatasetInfo,
    column_kind,
    frame_sha256,
    profile_columns,
)
from app.core.datasets.store import DatasetStore, read_upload

__all__ = [
    "BUNDLED",
    "BUNDLED_TARGET",
    "BundledDataset",
    "ColumnKind",
    "ColumnProfile",
    "DatasetInfo",
    "DatasetStore",
    "bundled_catalogue",
    "bundled_info",
    "column_kind",
    "frame_sha256",
    "load_bundled",
    "profile_columns",
    "read_csv",
    "read_upload",
]
