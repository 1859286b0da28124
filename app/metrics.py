"""Prometheus metrics. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every worker
write its samples to that directory and /metrics aggregates them, so the numbers are
right whichever worker answers the scrape."""

from __future__ import annotations

import os
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

REQUESTS = Counter(
    "mlstack_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"]
)
LATENCY = Histogram(
    "mlstack_http_request_duration_seconds",
    "Time to answer a request",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PREDICTIONS = Counter("mlstack_predictions_total", "Rows predicted", ["model", "version"])
PREDICT_REQUESTS = Counter(
    "mlstack_prediction_requests_total", "Prediction requests served", ["model", "version"]
)
PREDICT_CALLS = Counter(
    "mlstack_predict_calls_total",
    "Estimator predict calls: requests that "
    "arrived together share one (rows / calls is the mean batch)",
    ["model", "version"],
)

ENGINE_ROWS = Counter(
    "mlstack_engine_rows_total",
    "Rows predicted, by the engine that answered them: numpy or onnxruntime (an exact "
    "compiled predictor) or sklearn",
    ["model", "version", "engine"],
)
ENGINE_CALLS = Counter(
    "mlstack_engine_calls_total",
    "Predict calls, by the engine that answered them",
    ["model", "version", "engine"],
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


@lru_cache(maxsize=4096)
def _request_children(method: str, endpoint: str, status: int) -> tuple[Counter, Histogram]:
    # labels() looks the child up under a lock on every call: keep the children
    return REQUESTS.labels(method, endpoint, str(status)), LATENCY.labels(method, endpoint)


@lru_cache(maxsize=4096)
def _prediction_children(model: str, version: int) -> tuple[Counter, Counter]:
    return PREDICTIONS.labels(model, str(version)), PREDICT_REQUESTS.labels(model, str(version))


def observe_request(method: str, endpoint: str, status: int, seconds: float) -> None:
    count, latency = _request_children(method, endpoint, status)
    count.inc()
    latency.observe(seconds)


@lru_cache(maxsize=4096)
def _calls_child(model: str, version: int) -> Counter:
    return PREDICT_CALLS.labels(model, str(version))


def observe_predict_call(model: str, version: int) -> None:
    _calls_child(model, version).inc()


def observe_prediction(model: str, version: int, rows: int) -> None:
    rows_counter, requests_counter = _prediction_children(model, version)
    rows_counter.inc(rows)
    requests_counter.inc()


@lru_cache(maxsize=4096)
def _engine_children(model: str, version: int, engine: str) -> tuple[Counter, Counter]:
    v = str(version)
    return ENGINE_ROWS.labels(model, v, engine), ENGINE_CALLS.labels(model, v, engine)


def observe_engine(model: str, version: int, engine: str, rows: int) -> None:
    rows_counter, calls_counter = _engine_children(model, version, engine)
    rows_counter.inc(rows)
    calls_counter.inc()
