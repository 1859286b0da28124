"""Built bundles kept under the state directory, <root>/<id>.zip, for a while.

The id is the zip's own sha256 (first 32 hex digits): the same models and parts give
the same id. Files are served from the zip by their exact entry name, never by a
filesystem path built from the request."""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from app.core.errors import NotFound
from app.core.runtime import sha256_bytes
from app.core.storage import write_atomic

BUNDLE_ID = re.compile(r"[0-9a-f]{32}")  # checked with fullmatch


class BundleStore:
    def __init__(self, root: Path, ttl_seconds: float):
        self.root = Path(root)
        self.ttl_seconds = ttl_seconds

    def save(self, archive: bytes) -> str:
        self.purge()
        bundle_id = sha256_bytes(archive)[:32]
        path = self.root / f"{bundle_id}.zip"
        write_atomic(path, archive)
        os.utime(path)  # built again: its time to live starts over
        return bundle_id

    def path(self, bundle_id: str) -> Path:
        if not isinstance(bundle_id, str) or not BUNDLE_ID.fullmatch(bundle_id):
            raise NotFound(f"no bundle {str(bundle_id)[:40]!r}")
        path = self.root / f"{bundle_id}.zip"
        try:
            expired = time.time() - path.stat().st_mtime > self.ttl_seconds
        except FileNotFoundError:
            expired = True
        if expired:
            path.unlink(missing_ok=True)
            raise NotFound(
                f"no bundle {bundle_id!r} (bundles expire after {self.ttl_seconds / 3600:g} h)"
            )
        return path

    def archive(self, bundle_id: str) -> bytes:
        return self.path(bundle_id).read_bytes()

    def files(self, bundle_id: str) -> list[dict[str, Any]]:
        """The file cards, from the bundle's manifest (and the manifest itself)."""
        with zipfile.ZipFile(self.path(bundle_id)) as archive:
            top = archive.namelist()[0].split("/", 1)[0]
            raw = archive.read(f"{top}/manifest.json")
        cards = json.loads(raw)["files"] + [
            {"path": "manifest.json", "bytes": len(raw), "sha256": sha256_bytes(raw)}
        ]
        return sorted(cards, key=lambda c: c["path"])

    def file(self, bundle_id: str, rel: str) -> bytes:
        with zipfile.ZipFile(self.path(bundle_id)) as archive:
            top = archive.namelist()[0].split("/", 1)[0]
            try:
                return archive.read(f"{top}/{rel}")
            except KeyError:
                raise NotFound(f"bundle {bundle_id} has no file {rel[:200]!r}") from None

    def name(self, bundle_id: str) -> str:
        """The bundle's folder name (the zip's top directory)."""
        with zipfile.ZipFile(self.path(bundle_id)) as archive:
            return archive.namelist()[0].split("/", 1)[0]

    def purge(self) -> int:
        """Delete expired bundles; returns how many."""
        removed = 0
        now = time.time()
        for path in self.root.glob("*.zip"):
            try:
                if now - path.stat().st_mtime > self.ttl_seconds:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
