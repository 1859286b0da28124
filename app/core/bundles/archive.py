"""The manifest and the deterministic zip: the same files give the same bytes
(entries sorted, one fixed timestamp, fixed modes and compression)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
UNIX = 3


@dataclass(frozen=True)
class BundleFile:
    data: bytes
    executable: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def file_cards(files: dict[str, BundleFile]) -> list[dict[str, Any]]:
    return [
        {"path": path, "bytes": len(f.data), "sha256": f.sha256}
        for path, f in sorted(files.items())
    ]


def manifest(files: dict[str, BundleFile], header: dict[str, Any]) -> bytes:
    """manifest.json: `header` (components, models, versions) and every other file."""
    doc = {**header, "files": file_cards(files)}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def write_zip(files: dict[str, BundleFile], top: str) -> bytes:
    """The files under one top-level folder `top/`, in a byte-stable zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(f"{top}/{path}", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = UNIX
            info.external_attr = (0o100755 if files[path].executable else 0o100644) << 16
            archive.writestr(info, files[path].data, compresslevel=6)
    return buffer.getvalue()
