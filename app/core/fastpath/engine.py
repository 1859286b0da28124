"""Which engine serves a loaded version. The verdict proven at registration is stored
with the version, keyed by the artifact's sha256 and the library versions; a process
that loads the version compiles it again and re-runs a short probe before serving with
it (its libraries or CPU may differ), and scikit-learn serves on any doubt."""

from __future__ import annotations

import logging
from typing import Any

from app.core.fastpath.verify import SHORT_BATCH_SIZES, library_versions, verify
from app.core.runtime import LoadedModel, unverified

log = logging.getLogger(__name__)

DISABLED = "FAST_PATH=off: scikit-learn serves every version"


def registration_verdict(model: LoadedModel, sha256: str) -> dict[str, Any]:
    """The full verification of a new version, as stored with it."""
    verdict, _compiled = verify(model)
    return {**verdict, "artifact_sha256": sha256, "libraries": library_versions()}


def _matches(stored: dict[str, Any] | None, sha256: str) -> bool:
    return (
        isinstance(stored, dict)
        and stored.get("artifact_sha256") == sha256
        and stored.get("libraries") == library_versions()
    )


def select_engine(
    model: LoadedModel, stored: dict[str, Any] | None, sha256: str, *, enabled: bool
) -> None:
    """Set `model.compiled` and `model.runtime` for this process."""
    if not enabled:
        model.compiled, model.runtime = None, unverified(DISABLED)
        return
    if _matches(stored, sha256) and stored is not None:
        if not stored.get("verified"):
            model.compiled, model.runtime = None, public(stored)
            return
        verdict, compiled = verify(model, SHORT_BATCH_SIZES)
        if compiled is None:
            log.warning(
                "%s v%s: the compiled predictor failed its re-check here: %s",
                model.name,
                model.version,
                verdict["reason"],
            )
            model.compiled = None
            model.runtime = unverified(f"re-checked in this process: {verdict['reason']}")
            return
        model.compiled, model.runtime = compiled, public(stored)
        return
    # registered before the fast path, or under other library versions: prove it here
    verdict, compiled = verify(model)
    model.compiled, model.runtime = compiled, public(verdict)


def public(verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict as the API shows it."""
    return {k: verdict[k] for k in ("engine", "verified", "reason")}
