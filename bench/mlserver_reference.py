"""The MLServer reference for batches (issue 13: mlstack's batches at least 2x MLServer's).

MLServer 1.7 with its scikit-learn runtime, from its own virtualenv (.venv-mlserver,
`make mlserver-venv`: it pins its own web stack), serves the same fitted benchmark
models (bench/scenarios.py, saved with joblib; the same scikit-learn version) with its
default settings but for the addresses: loopback only, ports of its own. Its front is
its own HTTP server; it is driven with the Open Inference Protocol body a client would
send it (one [rows, F] FP64 tensor in JSON) at the batch runs' connections."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import requests

from bench import BenchError
from bench.load import LoadSettings, load
from bench.scenarios import BATCH_ROWS, Scenario, rows
from tests.stackrun import ROOT

VENV = Path(os.environ.get("MLSERVER_VENV", ROOT / ".venv-mlserver"))
HOST, HTTP_PORT, GRPC_PORT, METRICS_PORT = "127.0.0.1", 8085, 8086, 8087
URL = f"http://{HOST}:{HTTP_PORT}"
READY_TIMEOUT_S = 120


def v2_batch_body(scenario: Scenario, n: int) -> bytes:
    X = rows(scenario.X, n)
    tensor = {
        "name": "input-0",
        "datatype": "FP64",
        "shape": list(X.shape),
        "data": X.ravel().tolist(),
    }
    return orjson.dumps({"inputs": [tensor]})


def write_repository(root: Path, scenarios: dict[str, Scenario]) -> None:
    """MLServer's settings and one folder per model (model-settings.json, model.joblib)."""
    import joblib

    settings = {
        "host": HOST,
        "http_port": HTTP_PORT,
        "grpc_port": GRPC_PORT,
        "metrics_port": METRICS_PORT,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    for name, s in scenarios.items():
        folder = root / name
        folder.mkdir()
        joblib.dump(s.estimator, folder / "model.joblib")
        model = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v1"},
        }
        (folder / "model-settings.json").write_text(json.dumps(model))


@contextmanager
def running_mlserver(root: Path, names: list[str]) -> Iterator[None]:
    """`mlserver start root` in a session of its own (it forks inference workers), until
    every model answers ready; the whole session is stopped on the way out."""
    binary = VENV / "bin" / "mlserver"
    if not binary.exists():
        raise BenchError(f"{binary} is missing: run `make mlserver-venv`")
    log = (root / "mlserver.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "start", str(root)],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(proc, names, root / "mlserver.log")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], names: list[str], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = list(names)
    while pending and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"mlserver exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{URL}/v2/models/{pending[0]}/ready", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        time.sleep(0.5)
    if pending:
        raise BenchError(f"mlserver: {pending} not ready in {READY_TIMEOUT_S} s")


def check_answers(scenario: Scenario) -> None:
    """MLServer answers the model's own predictions (the comparison is of equals)."""
    X = rows(scenario.X, 50)
    res = requests.post(
        f"{URL}/v2/models/{scenario.name}/infer",
        data=v2_batch_body(scenario, 50),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    res.raise_for_status()
    got = res.json()["outputs"][0]["data"]
    if got != scenario.estimator.predict(X).tolist():
        raise BenchError(f"mlserver: {scenario.name} answers differ from the model's own")


def mlserver_batches(
    scenarios: dict[str, Scenario], tmp: Path, settings: LoadSettings, connections: int
) -> dict[str, dict[str, float]]:
    """Rows/s of MLServer for each model's 1k- and 10k-row V2 bodies."""
    root = tmp / "mlserver"
    root.mkdir()
    write_repository(root, scenarios)
    bodies = {}
    for name, s in scenarios.items():
        for key, n in BATCH_ROWS.items():
            bodies[name, key] = root / f"{name}-{key}.json"
            bodies[name, key].write_bytes(v2_batch_body(s, n))
    out: dict[str, dict[str, float]] = {}
    with running_mlserver(root, list(scenarios)):
        for name, s in scenarios.items():
            check_answers(s)
            url = f"{URL}/v2/models/{name}/infer"
            out[name] = {
                key: load(url, bodies[name, key], settings, connections)["req_per_s"] * n
                for key, n in BATCH_ROWS.items()
            }
    return out
