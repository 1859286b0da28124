"""What the harness asks of the running service: register the models, train model D
through the training endpoint and the worker, check the answers, read the predict
counters, restart gunicorn, time a restart."""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from bench import BenchError
from bench.scenarios import (
    TRAINED,
    V2_BINARY_HEADERS,
    Scenario,
    churn_csv,
    registration,
    v2_binary_body,
)
from tests.stackrun import GUNICORN_URL, Stack

TRAINING_TIMEOUT_S = 600


def register(stack: Stack, scenarios: dict[str, Scenario]) -> None:
    """Upload every scenario's estimator as a promoted version, with its schema."""
    for name, s in scenarios.items():
        artifact, form = registration(s)
        res = stack.post(
            f"/api/v1/models/{name}/versions",
            headers=stack.auth,
            timeout=120,
            files={"file": ("model.skops", artifact)},
            data=form,
        )
        res.raise_for_status()


def train_categorical(stack: Stack) -> dict[str, Any]:
    """Upload the churn CSV, train model D from it and return D's schema."""
    res = stack.post(
        "/api/v1/datasets",
        headers=stack.auth,
        timeout=120,
        files={"file": ("churn.csv", churn_csv())},
        data={"target": "churn", "name": "churn"},
    )
    res.raise_for_status()
    spec = {
        "dataset": str(res.json()["id"]),
        "target": "churn",
        "algorithm": "random_forest",
        "params": {"n_estimators": 100},
        "random_state": 0,
        "promote": True,
    }
    res = stack.post(f"/api/v1/models/{TRAINED}/train", headers=stack.auth, json=spec)
    res.raise_for_status()
    job = stack.wait_job(res.json()["id"], timeout=TRAINING_TIMEOUT_S)
    if job["status"] != "succeeded":
        raise BenchError(f"training job {job['status']}: {job.get('error')}")
    schema: dict[str, Any] = stack.get(f"/api/v1/models/{TRAINED}/schema", timeout=10).json()
    return schema


def check_answers(stack: Stack, scenario: Scenario) -> None:
    """The service answers what the model answers (batching must not change it)."""
    X = scenario.X[:50]
    res = stack.post(
        f"/api/v1/models/{scenario.name}/predict", json={"instances": X.tolist()}, timeout=30
    )
    res.raise_for_status()
    expected = scenario.estimator.predict(X).tolist()
    if res.json()["predictions"] != expected:
        raise BenchError(f"{scenario.name} answers differ from the model's own predictions")
    res = stack.post(
        f"/v2/models/{scenario.name}/infer",
        data=v2_binary_body(X),
        headers=V2_BINARY_HEADERS,
        timeout=30,
    )
    res.raise_for_status()
    if res.json()["outputs"][0]["data"] != expected:
        raise BenchError(f"{scenario.name}: V2 binary answers differ from the model's own")


def engine(stack: Stack, name: str) -> str:
    """The engine serving the model's production version: the version's `runtime`
    (the fast path) where the API reports one, else scikit-learn."""
    doc = stack.get(f"/api/v1/models/{name}", timeout=10).json()
    production = doc.get("production_version")
    for version in doc.get("versions", []):
        if version.get("version") == production and isinstance(version.get("runtime"), dict):
            return str(version["runtime"].get("engine", "sklearn"))
    return "sklearn"


def predict_counters(model: str) -> tuple[float, float]:
    """(rows predicted, estimator calls) for a model, summed over versions and workers."""
    text = requests.get(GUNICORN_URL + "/metrics", timeout=10).text

    def total(metric: str) -> float:
        pattern = rf'^{metric}\{{model="{model}",version="\d+"\}} (\S+)$'
        return sum(float(v) for v in re.findall(pattern, text, re.MULTILINE))

    return total("mlstack_predictions_total"), total("mlstack_predict_calls_total")


def rows_per_call(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    calls = after[1] - before[1]
    return (after[0] - before[0]) / calls if calls else None


def fresh_workers(stack: Stack) -> None:
    """Restart gunicorn and wait until it answers: its master preloads the production
    models before forking, as in production, so the new workers share them copy-on-write
    and start with no requests served."""
    stack.ctl("restart", "gunicorn", timeout=180)
    stack.wait_ready(120)


def restart_time(stack: Stack) -> float:
    """Seconds from `supervisorctl restart all` to ready."""
    start = time.monotonic()
    stack.ctl("restart", "all", timeout=180)
    stack.wait_ready(300, interval=0.05)
    return time.monotonic() - start
