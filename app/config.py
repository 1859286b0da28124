"""Configuration from the environment, with safe development defaults.

Production refuses to start without the values it needs (API_TOKEN); development
falls back to SQLite and a model store under var/ and generates a token once."""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# Old names still read, with a warning, when the new one is not set.
RENAMED = {
    "MAX_PREDICT_ROWS": "MAX_BATCH_ROWS",
    "MICROBATCH_MAX_ROWS": "BATCH_MAX_ROWS",
    "MICROBATCH_MAX_WAIT_MS": "BATCH_MAX_WAIT_MS",
}


def _env(name: str) -> str | None:
    raw = os.environ.get(name)
    old = RENAMED.get(name)
    if raw in (None, "") and old and os.environ.get(old) not in (None, ""):
        warnings.warn(f"{old} is deprecated: set {name} instead", FutureWarning, stacklevel=3)
        raw = os.environ[old]
    return raw if raw not in (None, "") else None


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw is not None else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw is not None else default


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def parse_bool(raw: str) -> bool:
    """The one reading of a true/false word, for the environment and request flags."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected one of {sorted(TRUE_WORDS | FALSE_WORDS)}, got {raw!r}")


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_bool(raw)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


class Config:
    TESTING = False
    VAR_DIR = Path(os.environ.get("MLSTACK_VAR", ROOT / "var"))

    def __init__(self) -> None:
        var = Path(self.VAR_DIR)
        self.DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{var / 'mlstack.db'}"
        self.MODEL_STORE = Path(os.environ.get("MODEL_STORE") or var / "models")
        self.LOG_DIR = Path(os.environ.get("LOG_DIR") or var / "log")
        self.API_TOKEN = os.environ.get("API_TOKEN") or None
        self.MAX_PREDICT_ROWS = _env_int("MAX_PREDICT_ROWS", 10_000)  # rows per request
        # request bodies: model and dataset uploads are the largest
        self.MAX_CONTENT_LENGTH = _env_int("MAX_UPLOAD_MB", 100) * 1024 * 1024
        # prediction bodies (/api/v1 predict, /v2 infer), well under the uploads' limit
        # yet room for a MAX_PREDICT_ROWS batch of a typical model (README says how big)
        self.MAX_PREDICT_BYTES = _env_int("MAX_PREDICT_MB", 16) * 1024 * 1024
        self.ALLOW_PICKLE = _env_bool("ALLOW_PICKLE", False)  # dangerous: executes code on load
        self.REGISTRY_REFRESH_SECONDS = _env_float("REGISTRY_REFRESH_SECONDS", 1.0)
        # loaded versions per process besides the (pinned) production ones, and how
        # long a version whose artifact failed to load answers 503 before a retry
        self.MODEL_CACHE_SIZE = _env_int("MODEL_CACHE_SIZE", 8)
        self.ARTIFACT_RETRY_SECONDS = _env_float("ARTIFACT_RETRY_SECONDS", 30.0)
        self.SEED_DEMO_MODELS = _env_bool("SEED_DEMO_MODELS", True)
        self.LOGGING_CONF = Path(os.environ.get("LOGGING_CONF") or ROOT / "logging.conf")
        self.TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 1)
        # micro-batching of concurrent predictions (a wait of 0 turns it off)
        self.MICROBATCH_MAX_WAIT_MS = _env_float("MICROBATCH_MAX_WAIT_MS", 2.0)
        self.MICROBATCH_MAX_ROWS = _env_int("MICROBATCH_MAX_ROWS", 256)
        # the exact compiled predictors (app/core/fastpath): off serves scikit-learn only
        self.FAST_PATH = _env_bool("FAST_PATH", True)
        # training: uploaded datasets, the job queue and its workers
        self.DATASET_STORE = Path(os.environ.get("DATASET_STORE") or var / "datasets")
        self.MAX_DATASET_BYTES = _env_int("MAX_DATASET_MB", 100) * 1024 * 1024
        # a multipart upload carries its form fields too: leave room for them
        self.MAX_CONTENT_LENGTH = max(self.MAX_CONTENT_LENGTH, self.MAX_DATASET_BYTES + 1024 * 1024)
        self.JOB_HEARTBEAT_TIMEOUT = _env_float("JOB_HEARTBEAT_TIMEOUT", 60.0)
        self.JOB_MAX_ATTEMPTS = _env_int("JOB_MAX_ATTEMPTS", 3)
        self.WORKER_POLL_SECONDS = _env_float("WORKER_POLL_SECONDS", 1.0)
        # a stopped worker's running job: this long to finish, then back to the queue
        self.WORKER_STOP_GRACE_SECONDS = _env_float("WORKER_STOP_GRACE_SECONDS", 20.0)
        # governed training (app/core/training/limits.py, isolation.py): what a job may
        # ask for, checked before queuing, and the time and memory its fit may take
        self.TRAIN_MAX_ESTIMATORS = _env_int("TRAIN_MAX_ESTIMATORS", 10_000)
        self.TRAIN_MAX_ITER = _env_int("TRAIN_MAX_ITER", 20_000)
        self.TRAIN_MAX_CLASSES = _env_int("TRAIN_MAX_CLASSES", 200)
        self.TRAIN_MAX_CELLS = _env_int("TRAIN_MAX_CELLS", 20_000_000)
        self.JOB_N_JOBS = _env_int("JOB_N_JOBS", 1)
        self.JOB_TIMEOUT_SECONDS = _env_float("JOB_TIMEOUT_SECONDS", 3600.0)
        self.JOB_MEMORY_MB = _env_int("JOB_MEMORY_MB", 4096)
        self.UI_ENABLED = _env_bool("UI_ENABLED", True)  # the browser pages under /ui/
        # parts that can be switched off (deployment bundles do)
        self.SWAGGER_ENABLED = _env_bool("SWAGGER_ENABLED", True)  # /api/v1/docs and swagger.json
        self.TRAINING_ENABLED = _env_bool("TRAINING_ENABLED", True)  # datasets, training, jobs
        # deployment bundles: where built ones are kept and for how long; the mlstack tree
        # whose deployment files they are made of; a bundle's own models (registered at init)
        self.BUNDLE_STORE = Path(os.environ.get("BUNDLE_STORE") or var / "bundles")
        self.BUNDLE_TTL_HOURS = _env_float("BUNDLE_TTL_HOURS", 24.0)
        self.MLSTACK_HOME = Path(os.environ.get("MLSTACK_HOME") or ROOT)
        models = os.environ.get("BUNDLE_MODELS")
        self.BUNDLE_MODELS = (
            (ROOT / models if not Path(models).is_absolute() else Path(models)) if models else None
        )

    def ensure_token(self) -> None:
        """Development: a token is generated on first use, kept under var/ so every
        gunicorn worker and restart agrees on it, and printed once."""
        if self.API_TOKEN:
            return
        path = Path(self.VAR_DIR) / "api_token"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            self.API_TOKEN = path.read_text().strip()
            return
        token = secrets.token_urlsafe(32)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        self.API_TOKEN = token
        print(f"mlstack: generated development API token (stored in {path}): {token}", flush=True)


class DevelopmentConfig(Config):
    pass


class ProductionConfig(Config):
    def ensure_token(self) -> None:
        if not self.API_TOKEN:
            raise RuntimeError("API_TOKEN must be set in production (MLSTACK_ENV=production)")


class TestingConfig(Config):
    __test__ = False  # not a pytest test class
    TESTING = True

    def __init__(self, var_dir: Path | None = None, **overrides: Any) -> None:
        if var_dir is not None:
            self.VAR_DIR = Path(var_dir)
        super().__init__()
        self.API_TOKEN = "test-token"
        self.SEED_DEMO_MODELS = False
        for key, value in overrides.items():
            setattr(self, key, value)


ENVIRONMENTS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def config_from_env() -> Config:
    """The configuration MLSTACK_ENV names (default development); a name that is not
    one of them is refused rather than silently becoming development."""
    name = (os.environ.get("MLSTACK_ENV") or "development").strip().lower()
    if name not in ENVIRONMENTS:
        raise ValueError(f"MLSTACK_ENV={name!r}: use one of {', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[name]()
