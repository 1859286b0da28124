"""Which engine serves a loaded version. The verdict proven at registration is stored
with the version, keyed by the artifact's sha256 and the library versions. A process
that loads the version compiles it again and re-runs a short probe before serving with
it (its libraries or CPU may differ); scikit-learn serves on any doubt.

gunicorn's master preloads the production versions and forks the workers: it may
compile (the ONNX bytes of a tree ensemble are built with `onnx` alone) but must not
run an onnxruntime session, so a stage of another engine than numpy is proven lazily,
by the first prediction in each worker."""

from __future__ import annotations

import logging
from typing import Any

from app.core.fastpath.compiler import CompiledPredictor
from app.core.fastpath.contract import Unsupported
from app.core.fastpath.verify import (
    BATCH_SIZES,
    SHORT_BATCH_SIZES,
    compile_for,
    library_versions,
    probe,
    verify,
)
from app.core.runtime import LoadedModel, unverified

log = logging.getLogger(__name__)

DISABLED = "FAST_PATH=off: scikit-learn serves every version"
FORK_SAFE_ENGINES = frozenset({"numpy"})  # may be probed in gunicorn's master


def registration_verdict(model: LoadedModel, sha256: str) -> dict[str, Any]:
    """The full verification of a new version, as stored with it (whatever FAST_PATH
    says: it is a fact about the artifact, kept for when the fast path is on)."""
    verdict, _compiled = verify(model)
    log.info("%s: fast path verdict %s (%s)", model.name, verdict["engine"], verdict["reason"])
    return {**verdict, "artifact_sha256": sha256, "libraries": library_versions()}


def shown(stored: Any) -> dict[str, Any]:
    """A stored verdict as the API shows it (versions registered before the fast path
    have none: scikit-learn serves them until a process proves otherwise)."""
    if not stored:
        return unverified("registered before the fast path: not verified")
    return public(stored)


def backfill(model: LoadedModel, stored: Any, sha256: str) -> dict[str, Any] | None:
    """The verdict to store for a version that has none (registered before the fast
    path), once this process has proven it in full; None when there is nothing to store."""
    if stored or model.candidate is not None or model.runtime["reason"] == DISABLED:
        return None
    return {**model.runtime, "artifact_sha256": sha256, "libraries": library_versions()}


def public(verdict: dict[str, Any]) -> dict[str, Any]:
    """The verdict as the API shows it."""
    return {k: verdict[k] for k in ("engine", "verified", "reason")}


def _matches(stored: Any, sha256: str) -> bool:
    return (
        isinstance(stored, dict)
        and stored.get("artifact_sha256") == sha256
        and stored.get("libraries") == library_versions()
    )


def select_engine(
    model: LoadedModel,
    stored: Any,
    sha256: str,
    *,
    enabled: bool,
    probe_now: bool = True,
) -> None:
    """Set the version's engine in this process: scikit-learn, or a compiled
    candidate that `settle` proves (now, or at the first prediction when `probe_now` is
    false and the engine may not run here yet)."""
    model.compiled = model.candidate = None
    if not enabled:
        model.runtime = unverified(DISABLED)
        return
    known = _matches(stored, sha256)
    if known and not stored.get("verified"):
        model.runtime = public(stored)
        return
    try:
        candidate = compile_for(model)
    except Unsupported as exc:
        model.runtime = unverified(str(exc))
        return
    # proven at registration with these libraries: a short re-check; else the full one
    model.candidate, model.candidate_sizes = candidate, SHORT_BATCH_SIZES if known else BATCH_SIZES
    model.runtime = public(stored) if known else unverified("not yet proven in this process")
    if probe_now or candidate.engine in FORK_SAFE_ENGINES:
        settle(model)


def settle(model: LoadedModel) -> None:
    """Probe the candidate here: it serves if scikit-learn's answers are matched."""
    candidate, sizes = model.candidate, model.candidate_sizes
    if not isinstance(candidate, CompiledPredictor):
        return
    try:
        reason, compared = probe(model, candidate, sizes)
    except Exception as exc:  # noqa: BLE001 - any failure keeps scikit-learn serving
        reason, compared = f"the probe failed: {type(exc).__name__}: {str(exc)[:200]}", 0
    if reason is None:
        if sizes == BATCH_SIZES:
            model.runtime = {
                "engine": candidate.engine,
                "verified": True,
                "reason": f"bitwise equal to scikit-learn on {compared} probe rows",
            }
        model.compiled = candidate
    else:
        log.warning("%s v%s: scikit-learn serves: %s", model.name, model.version, reason)
        model.runtime = unverified(
            reason if sizes == BATCH_SIZES else f"re-checked in this process: {reason}"
        )
    model.candidate = None
