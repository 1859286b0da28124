"""Load one model version's artifact and predict with it."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sklearn

from app.core.errors import ArtifactCorrupt, InvalidInput
from app.core.schema import CompiledSchema

# Types that skops does not trust by default but that scikit-learn's own estimators
# are made of (tree structures, distance metrics, dtypes). Anything else that a file
# references is refused; operators may extend the list with SKOPS_TRUSTED_TYPES.
KNOWN_SAFE_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
    }
)


def trusted_types() -> frozenset[str]:
    extra = os.environ.get("SKOPS_TRUSTED_TYPES", "")
    return KNOWN_SAFE_TYPES | {t.strip() for t in extra.split(",") if t.strip()}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def untrusted_types(data: bytes) -> list[str]:
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a skops file"
        raise InvalidInput(
            f"the file is not a readable skops artifact: {type(exc).__name__}"
        ) from None
    allowed = trusted_types()
    return sorted(t for t in found if t not in allowed)


def load_bytes(data: bytes, fmt: str) -> Any:
    """Deserialise an artifact. skops files are checked against the trusted types;
    pickle/joblib are only reached when the operator opted in (ALLOW_PICKLE)."""
    if fmt == "skops":
        import skops.io as sio

        bad = untrusted_types(data)
        if bad:
            raise InvalidInput(
                "the artifact references untrusted types: " + ", ".join(bad),
                {"file": "untrusted types: " + ", ".join(bad)},
            )
        return sio.loads(data, trusted=sorted(trusted_types()))
    import joblib

    return joblib.load(io.BytesIO(data))


def load_artifact(data: bytes, fmt: str) -> Any:
    """`load_bytes` for bytes a user brought: any failure to load is their error."""
    try:
        return load_bytes(data, fmt)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file is the client's problem
        raise InvalidInput(
            f"the artifact cannot be loaded: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None


def read_verified(path: Path, expected_sha256: str) -> bytes:
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected_sha256:
        raise ArtifactCorrupt(
            f"artifact {path.name} has sha256 {actual[:12]}..., expected {expected_sha256[:12]}..."
        )
    return data


def final_estimator(est: Any) -> Any:
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


SKLEARN = "sklearn"
# (model, version, engine, rows): once per estimator call, for the metrics by engine
OnEngine = Callable[[str, int, str, int], None]
Outputs = tuple[np.ndarray, np.ndarray | None]  # labels or values, probabilities


class CompiledModel(Protocol):
    """What `LoadedModel` needs of a compiled predictor (app.core.fastpath.compiler)."""

    engine: str

    def predict(self, matrix: np.ndarray) -> np.ndarray: ...

    def predict_both(self, matrix: np.ndarray) -> Outputs: ...


def unverified(reason: str) -> dict[str, Any]:
    return {"engine": SKLEARN, "verified": False, "reason": reason}


@dataclass(eq=False)  # compared by identity: one object per loaded artifact
class LoadedModel:
    """A model version ready to predict: the estimator, its compiled schema, what it
    can answer, and the engine that answers: an exact compiled predictor when one was
    proven for this version in this process (app.core.fastpath), else scikit-learn."""

    name: str
    version: int
    task: str
    estimator: Any
    schema: CompiledSchema
    classes: list[Any] | None
    # set by app.core.fastpath.engine: the proven compiled predictor, or one awaiting
    # its probe in this process (and the batch sizes it is to be probed with)
    compiled: CompiledModel | None = None
    candidate: CompiledModel | None = None
    candidate_sizes: tuple[int, ...] = ()
    # calls of more rows go to scikit-learn, faster there (app.core.fastpath.crossover)
    compiled_max_rows: int | None = None
    runtime: dict[str, Any] = field(default_factory=lambda: unverified("not compiled"))
    on_engine: OnEngine | None = None

    def __post_init__(self) -> None:
        self.has_proba = hasattr(final_estimator(self.estimator), "predict_proba") and hasattr(
            self.estimator, "predict_proba"
        )
        # Estimators fitted on a DataFrame want one back (names checked by sklearn).
        self.wants_frame = (
            hasattr(self.estimator, "feature_names_in_") or not self.schema.all_numeric
        )

    def _input(self, matrix: np.ndarray) -> Any:
        if not self.wants_frame:
            return matrix
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=self.schema.names)
        for f in self.schema.features:
            col = frame[f["name"]]
            if f["type"] == "numeric":
                frame[f["name"]] = col.astype("float64")
            else:
                # a missing category reaches scikit-learn as its own marker (NaN), whatever
                # else the batch holds: pandas keeps None as None in an all-None column
                frame[f["name"]] = col.astype(object).where(col.notna(), np.nan)
        return frame

    def check_proba(self, return_proba: bool) -> None:
        if return_proba and not self.has_proba:
            raise InvalidInput(
                f"model {self.name} v{self.version} does not support probabilities",
                {"return_proba": "not supported by this model"},
            )

    def warm_up(self) -> None:
        """Predict once on the schema's example row: scikit-learn sets itself up on an
        estimator's first call, which no request should pay (docs/performance.md)."""
        matrix, _ = self.schema.rows_to_matrix([self.schema.example_instance()], 1)
        self.sklearn_outputs(matrix, self.has_proba)  # scikit-learn still answers some calls
        if self.compiled is not None:
            self.compiled_outputs(self.compiled, matrix, self.has_proba)

    @property
    def engine(self) -> str:
        return self.compiled.engine if self.compiled is not None else SKLEARN

    def sklearn_outputs(self, matrix: np.ndarray, return_proba: bool) -> Outputs:
        """scikit-learn's own answer. Rows were validated against the schema (numbers
        finite, missing values only where the model imputes or takes them), so
        scikit-learn's own repeated checks are skipped."""
        X = self._input(matrix)
        # A value beyond float32 (which tree models cast to) becomes an infinity and is
        # answered: the cast's overflow warning says nothing a client did wrong.
        with (
            sklearn.config_context(assume_finite=True, skip_parameter_validation=True),
            np.errstate(over="ignore"),
        ):
            labels = np.asarray(self.estimator.predict(X))
            proba = np.asarray(self.estimator.predict_proba(X)) if return_proba else None
        return labels, proba

    @staticmethod
    def compiled_outputs(
        compiled: CompiledModel, matrix: np.ndarray, return_proba: bool
    ) -> Outputs:
        if return_proba:
            return compiled.predict_both(matrix)
        return compiled.predict(matrix), None

    def outputs(self, matrix: np.ndarray, return_proba: bool) -> tuple[str, Outputs]:
        """(engine, outputs): the compiled predictor's when there is one and the call is
        not beyond the size where scikit-learn is faster; a failure in it (a category
        the encoder refuses, say) is left to scikit-learn to answer."""
        if self.candidate is not None:
            from app.core.fastpath.engine import settle

            settle(self)  # a candidate not proven in this process yet (after a fork)
        compiled = self.compiled
        limit = self.compiled_max_rows
        if compiled is not None and (limit is None or len(matrix) <= limit):
            try:
                return compiled.engine, self.compiled_outputs(compiled, matrix, return_proba)
            except Exception:  # noqa: BLE001 - scikit-learn answers (or raises) as it would
                pass
        return SKLEARN, self.sklearn_outputs(matrix, return_proba)

    def predict(self, matrix: np.ndarray, return_proba: bool = False) -> dict[str, Any]:
        """One call on the version's engine."""
        self.check_proba(return_proba)
        engine, (labels, proba) = self.outputs(matrix, return_proba)
        if self.on_engine is not None:
            self.on_engine(self.name, self.version, engine, len(matrix))
        out: dict[str, Any] = {"predictions": _to_list(labels)}
        if proba is not None:
            out["probabilities"] = np.asarray(proba, dtype=float).tolist()
        if self.classes is not None:
            out["classes"] = self.classes
        return out


def _to_list(values: Any) -> list[Any]:
    arr = np.asarray(values)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        arr = np.where(np.isfinite(arr), arr, np.nan).astype(object)
        return [None if (isinstance(v, float) and v != v) else v for v in arr.tolist()]
    listed: list[Any] = arr.tolist()
    return listed
