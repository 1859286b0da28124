"""The dataset store: uploaded CSVs beside the bundled datasets, behind one set of ids.

Ids are strings: a bundled dataset's name ("iris") or an upload's database id ("7").
Uploaded files live content-addressed under the store's root (<sha256>.csv, written to
a temporary file and renamed into place); their columns, inferred types, row count and
sha256 are rows of the `datasets` table."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, cast

import pandas as pd
from sqlalchemy import select

from app.core.datasets.bundled import BUNDLED, bundled_catalogue, bundled_info, load_bundled
from app.core.datasets.csv_reader import read_csv
from app.core.datasets.profile import ColumnProfile, DatasetInfo, profile_columns
from app.core.errors import InvalidInput, NotFound, PayloadTooLarge
from app.core.storage import write_atomic
from app.db import Database
from app.db.models import Dataset

log = logging.getLogger(__name__)

SAMPLE_ROWS = 5
_NAME = re.compile(r"[^\x00-\x1f]{1,128}")  # checked with fullmatch
_UPLOAD_ID = re.compile(r"[0-9]{1,10}")

DatasetDict = dict[str, Any]


def _cell(value: Any) -> Any:
    """A JSON-able sample cell: NaN -> None, numpy scalars -> Python."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _sample(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): _cell(v) for k, v in row.items()}
        for row in frame.head(SAMPLE_ROWS).to_dict(orient="records")
    ]


def _upload_dict(row: Dataset) -> DatasetDict:
    return {
        "id": str(row.id),
        "source": "upload",
        "name": row.name,
        "description": None,
        "target": row.target,
        "n_rows": row.n_rows,
        "sha256": row.sha256,
        "size_bytes": row.size_bytes,
        "columns": row.columns,
        "created_at": row.created_at,
    }


def _bundled_dict(entry: DatasetDict) -> DatasetDict:
    return {**entry, "source": "bundled", "size_bytes": None, "created_at": None}


class DatasetStore:
    def __init__(self, db: Database, root: Path, max_bytes: int = 100 * 1024 * 1024):
        self.db = db
        self.root = Path(root)
        self.max_bytes = max_bytes

    def add(self, name: str, data: bytes, target: str) -> DatasetDict:
        """Store an uploaded CSV once it parses and holds `target`."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(
                f"the CSV is {len(data)} bytes; the limit is {self.max_bytes} bytes"
            )
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                "a dataset name is 1-128 printable characters", {"name": "invalid name"}
            )
        if not target:
            raise InvalidInput(
                "name the target column ('target' form field)", {"target": "required"}
            )
        frame = read_csv(data)
        if target not in frame.columns:
            raise InvalidInput(
                f"the CSV has no target column {target!r}; columns: "
                + ", ".join(map(str, frame.columns))[:500],
                {"target": "not a column of the CSV"},
            )
        if frame[target].isna().all():
            raise InvalidInput(f"the target column {target!r} has no values", {"target": "empty"})
        columns = profile_columns(frame)
        digest = hashlib.sha256(data).hexdigest()
        rel = f"{digest}.csv"
        write_atomic(self.root / rel, data)
        with self.db.session() as s:
            row = Dataset(
                name=name,
                target=target,
                columns=columns,
                n_rows=len(frame),
                sha256=digest,
                path=rel,
                size_bytes=len(data),
            )
            s.add(row)
            s.flush()
            out = _upload_dict(row)
        out["sample"] = _sample(frame)
        log.info(
            "stored dataset %s (%s): %d rows, %d columns", out["id"], name, len(frame), len(columns)
        )
        return out

    def list(self) -> list[DatasetDict]:
        bundled = [_bundled_dict(d) for d in bundled_catalogue()]
        with self.db.session() as s:
            rows = s.scalars(select(Dataset).order_by(Dataset.id)).all()
            uploads = [_upload_dict(r) for r in rows]
        return bundled + uploads

    def _row(self, dataset_id: str) -> Dataset:
        if not _UPLOAD_ID.fullmatch(str(dataset_id)) or not 0 < int(dataset_id) < 2**31:
            raise NotFound(f"dataset {dataset_id!r} not found; bundled: {', '.join(BUNDLED)}")
        with self.db.session() as s:
            row = s.get(Dataset, int(dataset_id))
        if row is None:
            raise NotFound(f"dataset {dataset_id!r} not found")
        return row

    def get(self, dataset_id: str) -> DatasetDict:
        """Metadata with a few sample rows."""
        dataset_id = str(dataset_id)
        if dataset_id in BUNDLED:
            entry = next(d for d in bundled_catalogue() if d["id"] == dataset_id)
            out = _bundled_dict(entry)
            out["sample"] = _sample(load_bundled(dataset_id))
            return out
        row = self._row(dataset_id)
        out = _upload_dict(row)
        head = pd.read_csv(
            self.root / row.path, encoding="utf-8-sig", skipinitialspace=True, nrows=SAMPLE_ROWS
        )
        out["sample"] = _sample(head)
        return out

    def info(self, dataset_id: Any) -> DatasetInfo:
        """What spec validation needs, without reading the data. Unknown ids are a 400:
        they come from a request body, not a URL."""
        dataset_id = str(dataset_id)
        if dataset_id in BUNDLED:
            return bundled_info(dataset_id)
        try:
            row = self._row(dataset_id)
        except NotFound as exc:
            raise InvalidInput(exc.message, {"dataset": "unknown dataset"}) from None
        # stored as profile_columns made them (a JSON column: typed as plain dicts)
        columns = cast(list[ColumnProfile], row.columns)
        return DatasetInfo(dataset_id, columns, row.n_rows, row.target, row.sha256)

    def load(self, dataset_id: Any) -> tuple[pd.DataFrame, str]:
        """(frame, sha256) for training."""
        return self.loader(dataset_id)()

    def loader(self, dataset_id: Any) -> Callable[[], tuple[pd.DataFrame, str]]:
        """What `load` does, as a picklable call that needs no database: a training
        child process reads the data itself, within its memory limit."""
        dataset_id = str(dataset_id)
        if dataset_id in BUNDLED:
            return partial(_load_bundled, dataset_id)
        row = self._row(dataset_id)
        return partial(_load_upload, self.root / row.path, row.sha256, dataset_id)


def _load_bundled(name: str) -> tuple[pd.DataFrame, str]:
    digest = bundled_info(name).sha256
    assert digest is not None  # bundled datasets always carry their digest
    return load_bundled(name), digest


def _load_upload(path: Path, sha256: str, dataset_id: str) -> tuple[pd.DataFrame, str]:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"dataset {dataset_id} file {path.name} fails its checksum")
    return read_csv(data), digest


def read_upload(stream: BinaryIO | Any, limit: int) -> bytes:
    """Read at most `limit` bytes from an upload stream; more is a 413."""
    data: bytes = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            f"the upload exceeds the limit of {limit} bytes ({limit // (1024 * 1024)} MB)"
        )
    return data
