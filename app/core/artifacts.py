"""The model store: content-addressed artifact files, written whole and read back only
when they still hold the bytes that were registered."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from app.core.errors import ArtifactUnavailable
from app.core.runtime import load_bytes, read_verified, sha256_bytes
from app.core.storage import write_atomic

log = logging.getLogger(__name__)


class ArtifactStore:
    """Content-addressed files under the store root: <model>/<sha256>.<format>,
    written to a temporary file and renamed into place."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def write(self, model: str, data: bytes, fmt: str) -> tuple[str, str]:
        digest = sha256_bytes(data)
        rel = f"{model}/{digest}.{fmt}"
        write_atomic(self.root / rel, data)
        return rel, digest

    def path(self, rel: str) -> Path:
        return self.root / rel

    def load(self, rel: str, digest: str, fmt: str, label: str) -> Any:
        """The estimator in `rel`, checked against `digest`. A file that is missing,
        unreadable, altered or not loadable raises ArtifactUnavailable (a 503: the
        operator's problem, not the client's) naming `label` (the version)."""
        try:
            return load_bytes(read_verified(self.path(rel), digest), fmt)
        except ArtifactUnavailable as exc:  # the checksum: keep its class
            problem, error = exc.message, type(exc)
        except FileNotFoundError:
            problem, error = f"its artifact {rel} is missing from the model store", None
        except OSError as exc:
            problem, error = f"its artifact {rel} cannot be read: {exc.strerror or exc}", None
        except Exception as exc:  # noqa: BLE001 - whatever the file holds, the server's problem
            problem, error = f"its artifact {rel} cannot be loaded: {type(exc).__name__}", None
        log.error("%s is unavailable: %s", label, problem)
        raise (error or ArtifactUnavailable)(f"{label} is unavailable: {problem}")
