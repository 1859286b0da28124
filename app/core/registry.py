"""Model registry: names -> integer versions, one of them in production.

The database is the truth. Each process keeps a bounded cache of loaded versions
(immutable once written; production pinned, see app/core/model_cache.py) and of the
production map, which it re-reads at most once per
`refresh_seconds`: a promotion reaches every gunicorn worker within that interval and
the prediction path does not query the database per request. If the database is down,
the last known production map keeps serving."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import sklearn
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from app.core.admission import admit, is_probed, probe_nullable
from app.core.artifacts import ArtifactStore as ArtifactStore  # its former home: re-exported
from app.core.errors import (
    DatabaseUnavailable,
    InvalidInput,
    ModelNotFound,
    Unavailable,
    VersionNotFound,
)
from app.core.fastpath import engine as fastpath
from app.core.model_cache import ModelCache
from app.core.runtime import (
    LoadedModel,
    OnEngine,
    final_estimator,
    load_artifact,
    unverified,
)
from app.core.schema import CompiledSchema, SchemaDoc, check_schema, derive_schema
from app.core.statistics import with_statistics
from app.db import Database
from app.db.models import Model, ModelVersion

log = logging.getLogger(__name__)

MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
MAX_VERSION = 2**31 - 1  # the version column is a 32-bit integer on PostgreSQL
INSERT_ATTEMPTS = 5  # tries at the next version number while concurrent uploads take it


def check_name(name: str) -> str:
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid model name {name[:80]!r}: use 1-64 characters a-z, 0-9, '_' or '-', "
            "starting with a letter or digit",
            {"name": "must match [a-z0-9][a-z0-9_-]{0,63}"},
        )
    return name


def version_dict(model: Model, v: ModelVersion) -> dict[str, Any]:
    return {
        "model": model.name,
        "version": v.version,
        "stage": "production" if model.production_version == v.version else "available",
        "task": v.task,
        "algorithm": v.algorithm,
        "classes": v.classes,
        "metrics": v.metrics or {},
        "training": v.training,
        "artifact_sha256": v.artifact_sha256,
        "artifact_format": v.artifact_format,
        "sklearn_version": v.sklearn_version,
        "created_at": v.created_at,
        "schema": v.feature_schema,
        "runtime": fastpath.shown(v.runtime),
    }


def model_dict(model: Model, with_versions: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": model.name,
        "description": model.description,
        "production_version": model.production_version,
        "latest_version": max((v.version for v in model.versions), default=None),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }
    if with_versions:
        out["versions"] = [version_dict(model, v) for v in model.versions]
    return out


def describe_estimator(est: Any) -> tuple[str, list[Any] | None]:
    """(task, classes) for a fitted estimator; anything that is neither a classifier
    nor a regressor is refused."""
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(est):
        classes = getattr(final_estimator(est), "classes_", None)
        if classes is None:
            classes = getattr(est, "classes_", None)
        return "classification", [
            c.item() if hasattr(c, "item") else c for c in classes
        ] if classes is not None else None
    if is_regressor(est):
        return "regression", None
    raise InvalidInput(f"{type(est).__name__} is neither a classifier nor a regressor")


def upload_schema(est: Any, schema: Any) -> SchemaDoc:
    """The uploaded schema, checked against what the estimator was fitted on, or
    (without one) the schema derived from the estimator."""
    if schema is None:
        return derive_schema(est)
    checked = check_schema(schema, getattr(est, "n_features_in_", None))
    fitted = getattr(est, "feature_names_in_", None)
    if fitted is not None and [f["name"] for f in checked["features"]] != [str(n) for n in fitted]:
        raise InvalidInput(
            "the schema's feature names differ from the names the model was "
            "fitted with: " + ", ".join(map(str, fitted))
        )
    return checked


def algorithm_name(est: Any) -> str:
    steps = getattr(est, "steps", None)
    if steps:
        return "Pipeline(" + ", ".join(type(s).__name__ for _, s in steps) + ")"
    return type(est).__name__


@dataclass(frozen=True)
class NewVersion:
    """A checked artifact's row in model_versions, less what the insert allocates (the
    model's id and the version number)."""

    task: str
    algorithm: str
    feature_schema: SchemaDoc
    classes: list[Any] | None
    metrics: dict[str, Any] | None
    training: dict[str, Any] | None
    artifact_path: str
    artifact_sha256: str
    artifact_format: str
    job_id: int | None = None
    runtime: dict[str, Any] | None = None

    def row(self, model_id: int, number: int) -> ModelVersion:
        return ModelVersion(
            model_id=model_id,
            version=number,
            task=self.task,
            algorithm=self.algorithm,
            feature_schema=self.feature_schema,
            classes=self.classes,
            metrics=self.metrics,
            training=self.training,
            artifact_path=self.artifact_path,
            artifact_sha256=self.artifact_sha256,
            artifact_format=self.artifact_format,
            sklearn_version=sklearn.__version__,
            job_id=self.job_id,
            runtime=self.runtime,
        )


class Registry:
    def __init__(
        self,
        db: Database,
        store: ArtifactStore,
        refresh_seconds: float = 1.0,
        allow_pickle: bool = False,
        cache_size: int = 8,
        artifact_retry_seconds: float = 30.0,
        fast_path: bool = True,
        on_engine: OnEngine | None = None,
    ):
        self.db = db
        self.store = store
        self.refresh_seconds = refresh_seconds
        self.allow_pickle = allow_pickle
        self.fast_path = fast_path  # FAST_PATH: exact compiled predictors where proven
        self.on_engine = on_engine
        self._in_master = False  # preloading in gunicorn's master: see fastpath.engine
        self._lock = threading.Lock()
        # loaded versions: production pinned, at most `cache_size` others
        self.cache = ModelCache(cache_size, artifact_retry_seconds)
        self._production: dict[str, int | None] = {}
        self._production_checked = float("-inf")

    # ---- reads ---------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        with self.db.session() as s:
            models = s.scalars(
                select(Model).options(selectinload(Model.versions)).order_by(Model.name)
            ).all()
            return [model_dict(m) for m in models]

    def get_model(self, name: str) -> dict[str, Any]:
        check_name(name)
        with self.db.session() as s:
            out = model_dict(self._model(s, name), with_versions=True)
        for v in out["versions"]:
            self._shown_runtime(v)
        return out

    def get_version(self, name: str, version: int) -> dict[str, Any]:
        check_name(name)
        with self.db.session() as s:
            model = self._model(s, name)
            return self._shown_runtime(version_dict(model, self._version(s, model, version)))

    def _shown_runtime(self, version: dict[str, Any]) -> dict[str, Any]:
        """With FAST_PATH off, every version is served by scikit-learn, whatever was proven."""
        if not self.fast_path:
            version["runtime"] = unverified(fastpath.DISABLED)
        return version

    def count_models(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Model.id))) or 0

    @staticmethod
    def _model(s: Session, name: str) -> Model:
        model = s.scalar(select(Model).where(Model.name == name))
        if model is None:
            raise ModelNotFound(name)
        return model

    @staticmethod
    def _version(s: Session, model: Model, version: int) -> ModelVersion:
        if not 0 < version <= MAX_VERSION:  # beyond the column's range: none such, not a 500
            raise VersionNotFound(model.name, version)
        v = s.scalar(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.version == version
            )
        )
        if v is None:
            raise VersionNotFound(model.name, version)
        return v

    # ---- writes --------------------------------------------------------------
    def add_version(
        self,
        name: str,
        data: bytes,
        fmt: str = "skops",
        *,
        schema: Any = None,
        metrics: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
        algorithm: str | None = None,
        promote: bool = False,
        description: str | None = None,
        sample: Any = None,
        job_id: int | None = None,
    ) -> dict[str, Any]:
        """Register an artifact (bytes) as the next version of `name`. The artifact is
        loaded (safely) to check it and derive what the schema does not give; a `sample`
        (a DataFrame) gives the schema its per-feature statistics. A training job passes
        its `job_id`: a job registers at most one version, and registering again answers
        the version it already has."""
        check_name(name)
        if job_id is not None and (existing := self.version_of_job(job_id)) is not None:
            return existing
        est = self._load_upload(data, fmt)
        feature_schema = upload_schema(est, schema)
        if sample is not None:
            feature_schema = with_statistics(feature_schema, sample)
        feature_schema = admit(est, feature_schema)  # before describing: multi-output
        task, classes = describe_estimator(est)
        if metrics is not None and not isinstance(metrics, dict):
            raise InvalidInput("metrics must be a JSON object", {"metrics": "expected an object"})
        path, digest = self.store.write(name, data, fmt)
        candidate = LoadedModel(
            name, 0, task, est, CompiledSchema.from_doc(feature_schema), classes
        )
        runtime = fastpath.registration_verdict(candidate, digest)
        new = NewVersion(
            task=task,
            algorithm=algorithm or algorithm_name(est),
            feature_schema=feature_schema,
            classes=classes,
            metrics=metrics,
            training=training,
            artifact_path=path,
            artifact_sha256=digest,
            artifact_format=fmt,
            job_id=job_id,
            runtime=runtime,
        )
        out = self._shown_runtime(self._insert(name, new, promote=promote, description=description))
        self._invalidate()
        log.info("registered %s v%s (%s)", name, out["version"], out["algorithm"])
        return out

    def _load_upload(self, data: bytes, fmt: str) -> Any:
        """The uploaded artifact's estimator; pickles only when the operator allows
        them, and anything that does not load or cannot predict is the client's error."""
        if fmt != "skops" and not self.allow_pickle:
            raise InvalidInput(
                "pickle/joblib artifacts are refused: they can run arbitrary code "
                "when loaded. Upload a .skops file (skops.io.dump), or have the "
                "operator set ALLOW_PICKLE=true",
                {"file": "pickle not allowed"},
            )
        est = load_artifact(data, fmt)
        if not hasattr(est, "predict"):
            raise InvalidInput(f"the artifact holds a {type(est).__name__}, which has no predict()")
        return est

    def _insert(
        self, name: str, new: NewVersion, *, promote: bool, description: str | None
    ) -> dict[str, Any]:
        """Insert `new` under the next free number; a concurrent upload that takes the
        number first makes the insert fail on the unique constraint, and it takes the next."""
        for _attempt in range(INSERT_ATTEMPTS):
            try:
                return self._insert_next(name, new, promote=promote, description=description)
            except IntegrityError:
                # a concurrent attempt of the same job registered first: that is its version
                if new.job_id is not None and (done := self.version_of_job(new.job_id)):
                    return done
                continue
        raise Unavailable("could not allocate a version number; try again")

    def _insert_next(
        self, name: str, new: NewVersion, *, promote: bool, description: str | None
    ) -> dict[str, Any]:
        """One try: the model row (made by its first version), the version row, and the
        production pointer when asked for (or when the model has none yet)."""
        with self.db.session() as s:
            model = s.scalar(select(Model).where(Model.name == name))
            if model is None:
                model = Model(name=name, description=description)
                s.add(model)
                s.flush()
            number = (
                s.scalar(
                    select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
                )
                or 0
            ) + 1
            v = new.row(model.id, number)
            s.add(v)
            if promote or model.production_version is None:
                model.production_version = number
            s.flush()
            s.refresh(model)
            return version_dict(model, v)

    def version_of_job(self, job_id: int) -> dict[str, Any] | None:
        """The version a training job registered, if it did."""
        with self.db.session() as s:
            v = s.scalar(select(ModelVersion).where(ModelVersion.job_id == job_id))
            return None if v is None else version_dict(v.model, v)

    def add_estimator(self, name: str, estimator: Any, **kwargs: Any) -> dict[str, Any]:
        import skops.io as sio

        return self.add_version(name, sio.dumps(estimator), "skops", **kwargs)

    def promote(self, name: str, version: int) -> dict[str, Any]:
        check_name(name)
        with self.db.session() as s:
            model = self._model(s, name)
            v = self._version(s, model, version)
            model.production_version = v.version
            s.flush()
            out = version_dict(model, v)
        self._invalidate()
        log.info("promoted %s v%s to production", name, version)
        return out

    def _invalidate(self) -> None:
        self._production_checked = float("-inf")

    # ---- hot path ------------------------------------------------------------
    def production_versions(self) -> dict[str, int | None]:
        now = time.monotonic()
        if now - self._production_checked < self.refresh_seconds:
            return self._production
        with self._lock:
            if now - self._production_checked < self.refresh_seconds:
                return self._production
            try:
                with self.db.session() as s:
                    rows = s.execute(select(Model.name, Model.production_version)).all()
                self._production = {name: version for name, version in rows}
                self._pin_production()
            except (DatabaseUnavailable, SQLAlchemyError) as exc:
                if not self._production:
                    raise DatabaseUnavailable("the model registry database is unreachable") from exc
                log.warning(
                    "registry refresh failed, serving the last known versions: %s",
                    type(exc).__name__,
                )
            # checked even on failure, so a dead database costs one try per interval
            self._production_checked = time.monotonic()
            return self._production

    def resolve(self, name: str, version: int | None = None) -> LoadedModel:
        """The loaded model for `name` at `version` (default: production)."""
        if version is None:
            production = self.production_versions()
            if name not in production:
                check_name(name)
                version = self._production_of(name)  # registered since the last refresh?
            else:
                version = production[name]
            if version is None:
                raise VersionNotFound(name)
        loaded: LoadedModel | None = self.cache.get((name, version))
        if loaded is not None:
            return loaded
        check_name(name)
        loaded = self.cache.get_or_load((name, version), lambda: self._load(name, version))
        return loaded

    def _pin_production(self) -> None:
        self.cache.pin((n, v) for n, v in self._production.items() if v is not None)

    def _production_of(self, name: str) -> int | None:
        """One model's production version straight from the database, for a name the
        cached map does not know yet; raises ModelNotFound when there is none."""
        with self.db.session() as s:
            row = s.execute(select(Model.production_version).where(Model.name == name)).first()
        if row is None:
            raise ModelNotFound(name)
        with self._lock:
            self._production = {**self._production, name: row[0]}
        self._pin_production()
        return row[0]

    def _load(self, name: str, version: int) -> LoadedModel:
        with self.db.session() as s:
            model = self._model(s, name)
            v = self._version(s, model, version)
            meta = (
                v.task,
                v.feature_schema,
                v.classes,
                v.artifact_path,
                v.artifact_sha256,
                v.artifact_format,
                v.runtime,
            )
        task, schema, classes, rel, digest, fmt, runtime = meta
        est = self.store.load(rel, digest, fmt, f"model {name!r} v{version}")
        if not is_probed(schema):
            schema = self._probe_legacy(name, version, est, schema)
        loaded = LoadedModel(name, version, task, est, CompiledSchema.from_doc(schema), classes)
        loaded.on_engine = self.on_engine
        self._select_engine(loaded, runtime, digest)
        return loaded

    def _select_engine(self, loaded: LoadedModel, stored: Any, digest: str) -> None:
        try:
            fastpath.select_engine(
                loaded, stored, digest, enabled=self.fast_path, probe_now=not self._in_master
            )
        except Exception:  # noqa: BLE001 - the fast path must never stop a version loading
            log.exception("fast path selection failed for %s v%s", loaded.name, loaded.version)
            loaded.compiled, loaded.runtime = None, unverified("fast path selection failed")
            return
        record = fastpath.backfill(loaded, stored, digest)
        if record is not None:
            self._store_runtime(loaded.name, loaded.version, record)

    def _store_runtime(self, name: str, version: int, record: dict[str, Any]) -> None:
        """Keep a verdict proven here for a version registered without one, or whose
        verdict named another engine (`fastpath.backfill`)."""
        try:
            with self.db.session() as s:
                v = self._version(s, self._model(s, name), version)
                if not v.runtime or v.runtime.get("engine") != record["engine"]:
                    v.runtime = record
        except (DatabaseUnavailable, SQLAlchemyError) as exc:  # proven again next time
            log.warning("could not store the verdict of %s v%s: %s", name, version, exc)

    def _probe_legacy(self, name: str, version: int, est: Any, schema: SchemaDoc) -> SchemaDoc:
        """A version registered before the nullable probe: its `nullable` flags were
        guessed from the estimator's first step, so probe them now and keep the result
        (best effort: the probed schema serves this process even if the write fails)."""
        probed = probe_nullable(est, schema)
        refuted = probed["nullable_probe"]["refuted"]
        if refuted:
            log.warning("%s v%s: missing values refused for %s", name, version, ", ".join(refuted))
        try:
            with self.db.session() as s:
                model = self._model(s, name)
                self._version(s, model, version).feature_schema = probed
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            log.warning("could not store the probed schema of %s v%s: %s", name, version, exc)
        return probed

    def settle_loaded(self) -> int:
        """Prove the compiled candidates of the versions loaded so far, here and now: a
        gunicorn worker calls it right after its fork for what the master left unproven
        (onnxruntime stages, when onnxruntime could not be set up there), so no request
        waits for a probe or an onnxruntime session. Returns how many."""
        settled = 0
        for key in self.cache.keys():
            loaded = self.cache.get(key)
            if loaded is not None and loaded.candidate is not None:
                fastpath.settle(loaded)
                settled += 1
        return settled

    def preload_production(self) -> int:
        """Load every production version now and warm it up with one prediction
        (gunicorn's master: the workers share the models and start with them
        initialised); returns how many loaded."""
        count = 0
        for name, version in self.production_versions().items():
            if version is not None:
                self._in_master = True
                try:
                    loaded = self.resolve(name, version)
                    count += 1
                except Exception:  # noqa: BLE001 - a bad artifact must not stop the service
                    log.exception("could not load %s v%s", name, version)
                    continue
                finally:
                    self._in_master = False
                try:
                    loaded.warm_up()
                except Exception as exc:  # noqa: BLE001 - a warm-up is only an optimisation
                    log.warning(
                        "could not warm %s v%s up: %s: %s", name, version, type(exc).__name__, exc
                    )
        return count
