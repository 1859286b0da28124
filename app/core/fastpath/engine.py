"""Which engine serves a loaded version. The verdict proven at registration is stored
with the version, keyed by the artifact's sha256 and the library versions. A process
that loads the version compiles it again and re-runs a short probe before serving with
it (its libraries or CPU may differ); scikit-learn serves on any doubt.

gunicorn's master preloads the production versions and forks the workers. It proves
numpy stages itself; onnxruntime stages too when it has set onnxruntime up for its
workers (`onnx_fork`: the sessions it makes are then shared with them). Otherwise such a
stage is proven in each process that predicts with it, which makes its own session
(right after the fork, or at its first prediction). A proven onnxruntime stage serves
calls up to the size where scikit-learn becomes faster (`crossover`)."""

from __future__ import annotations

import logging
from typing import Any

from app.core.fastpath.compiler import CompiledPredictor
from app.core.fastpath.contract import Unsupported
from app.core.fastpath.crossover import compiled_max_rows
from app.core.fastpath.onnx_fork import sessions_shared_with_forks
from app.core.fastpath.probes import probe_matrix
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
FORK_SAFE_ENGINES = frozenset({"numpy", "native"})  # may always be probed in gunicorn's master
UNTIMED_ENGINES = frozenset({"numpy"})  # never slower than scikit-learn (crossover)


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
    """The verdict to store, once this process has proven the version in full: for a
    version that has none (registered before the fast path), or whose stored verdict
    names another engine than the one proven here (the API then shows what serves);
    None when there is nothing to store."""
    if model.candidate is not None or model.runtime["reason"] == DISABLED:
        return None
    if stored:
        superseded = (
            isinstance(stored, dict)
            and model.runtime["verified"]
            and stored.get("engine") != model.runtime["engine"]
        )
        if not superseded:
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
    model.compiled = model.candidate = model.compiled_max_rows = None
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
    # proven at registration with these libraries and this engine: a short re-check; else
    # the full one (a tree version proven on onnxruntime where no C compiler was, say)
    proven = known and stored.get("engine") == candidate.engine
    model.candidate, model.candidate_sizes = candidate, SHORT_BATCH_SIZES if proven else BATCH_SIZES
    model.runtime = public(stored) if proven else unverified("not yet proven in this process")
    if probe_now or candidate.engine in fork_safe_engines():
        settle(model)


def fork_safe_engines() -> frozenset[str]:
    """The engines gunicorn's master may prove before it forks: numpy, and onnxruntime
    once it is set up there for the workers (onnx_fork)."""
    if sessions_shared_with_forks():
        return FORK_SAFE_ENGINES | {"onnxruntime"}
    return FORK_SAFE_ENGINES


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
        model.compiled_max_rows = _timed_limit(model, candidate)
        model.compiled = candidate
    else:
        log.warning("%s v%s: scikit-learn serves: %s", model.name, model.version, reason)
        model.runtime = unverified(
            reason if sizes == BATCH_SIZES else f"re-checked in this process: {reason}"
        )
    model.candidate = None


def _timed_limit(model: LoadedModel, compiled: CompiledPredictor) -> int | None:
    """The largest call the compiled predictor serves in this process (timed here);
    None for NumPy stages, which are never slower than scikit-learn."""
    if compiled.engine in UNTIMED_ENGINES:
        return None
    limit = compiled_max_rows(
        lambda batch: LoadedModel.compiled_outputs(compiled, batch, False),
        lambda batch: model.sklearn_outputs(batch, False),
        probe_matrix(model.schema),
    )
    log.info(
        "%s v%s: %s serves calls of %s, scikit-learn %s",
        model.name,
        model.version,
        compiled.engine,
        "any size" if limit is None else f"up to {limit} rows",
        "none" if limit is None else "larger ones (faster there, same answers)",
    )
    return limit
