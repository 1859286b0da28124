"""The core services, wired once from the configuration. The app factory, the worker
and the CLI all call `build_services`; the HTTP layer reaches them through
`current_services()`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from app.config import Config
from app.core.bundles.service import BundleService
from app.core.bundles.sources import SourceTree
from app.core.bundles.store import BundleStore
from app.core.datasets import DatasetStore
from app.core.queue import JobQueue
from app.core.registry import ArtifactStore, Registry
from app.core.runtime import OnEngine
from app.core.serving import OnCall, OnServed, PredictionService
from app.db import Database

EXTENSION = "mlstack"


@dataclass(frozen=True)
class Services:
    config: Config
    db: Database
    registry: Registry
    datasets: DatasetStore
    queue: JobQueue
    predictions: PredictionService
    bundles: BundleService


def build_services(
    config: Config,
    *,
    on_predict_call: OnCall | None = None,
    on_prediction: OnServed | None = None,
    on_engine: OnEngine | None = None,
) -> Services:
    db = Database(config.DATABASE_URL)
    registry = Registry(
        db,
        ArtifactStore(config.MODEL_STORE),
        refresh_seconds=config.REGISTRY_REFRESH_SECONDS,
        allow_pickle=config.ALLOW_PICKLE,
        cache_size=config.MODEL_CACHE_SIZE,
        artifact_retry_seconds=config.ARTIFACT_RETRY_SECONDS,
        fast_path=config.FAST_PATH,
        on_engine=on_engine,
    )
    predictions = PredictionService(
        registry,
        max_request_rows=config.MAX_PREDICT_ROWS,
        batch_wait_seconds=config.MICROBATCH_MAX_WAIT_MS / 1000,
        batch_max_rows=config.MICROBATCH_MAX_ROWS,
        on_call=on_predict_call,
        on_served=on_prediction,
    )
    return Services(
        config=config,
        db=db,
        registry=registry,
        datasets=DatasetStore(db, config.DATASET_STORE, config.MAX_DATASET_BYTES),
        queue=JobQueue(db, config.JOB_HEARTBEAT_TIMEOUT, config.JOB_MAX_ATTEMPTS),
        predictions=predictions,
        bundles=BundleService(
            registry,
            BundleStore(config.BUNDLE_STORE, config.BUNDLE_TTL_HOURS * 3600),
            SourceTree(config.MLSTACK_HOME),
        ),
    )


def attach(app: Flask, services: Services) -> None:
    app.extensions[EXTENSION] = services


def services_of(app: Flask) -> Services:
    services: Services = app.extensions[EXTENSION]  # put there by attach()
    return services


def current_services() -> Services:
    """The services of the app handling the current request (or CLI command)."""
    services: Services = current_app.extensions[EXTENSION]
    return services
