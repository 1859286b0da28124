"""Files that are either whole or absent: write to a temporary file in the same
directory, fsync, rename into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` unless it exists (names are content hashes, so an
    existing file already holds these bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        return
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
