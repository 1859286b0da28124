"""End to end: a pipeline trained through the API and the worker (categorical columns,
missing values) is bundled through the API; each bundle is unzipped into an empty
directory and run the way its README says, in a fresh virtualenv (PyPI reachable,
the pip cache used): the online bundle's `make test` and `make run` on a free port,
whose answers must equal mlstack's for the same rows, and the offline bundle's
`make test` and `make predict`. One virtualenv serves both bundles."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from app.services import services_of
from tests.integration.bundles import bundle_dir, mlstack_with_people

ROWS = [
    {"age": 58, "city": "paris", "income": 1600},
    {"age": None, "city": "brest", "income": None},
    {"age": 30, "city": None, "income": 1000},
    {"age": 44, "city": "lyon", "income": 2000},
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make(bundle: Path, venv: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTACK", "DATABASE_URL", "VIRTUAL_ENV"))
    }
    res = subprocess.run(
        ["make", f"VENV={venv}", *args],
        cwd=bundle,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, (
        f"make {' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    )
    return res


@pytest.fixture(scope="module")
def mlstack(tmp_path_factory):
    """An mlstack with `people` trained by the worker from an uploaded CSV."""
    app, client = mlstack_with_people(tmp_path_factory.mktemp("mlstack"))
    yield app, client
    services_of(app).db.dispose()


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return tmp_path_factory.mktemp("venv") / "env"


def mlstack_answers(client) -> dict:
    res = client.post(
        "/api/v1/models/people/predict", json={"instances": ROWS, "return_proba": True}
    )
    assert res.status_code == 200, res.get_json()
    return res.get_json()


def test_online_bundle_passes_its_tests_and_serves_what_mlstack_serves(mlstack, venv, tmp_path):
    _app, client = mlstack
    bundle = bundle_dir(client, tmp_path / "unzipped", ["api", "swagger", "database", "tests"])
    tested = make(bundle, venv, "test")
    assert " passed" in tested.stdout and "failed" not in tested.stdout

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTACK", "DATABASE_URL", "VIRTUAL_ENV"))
    }
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        ["make", f"VENV={venv}", "run", f"PORT={port}"],
        cwd=bundle,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or busy starting (a first answer over 2 s in CI)
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "run.log"
            ).read_text()[-3000:]
            time.sleep(0.5)
        assert [m["name"] for m in requests.get(f"{base}/models", timeout=5).json()] == ["people"]
        answer = requests.post(
            f"{base}/models/people/predict",
            json={"instances": ROWS, "return_proba": True},
            timeout=10,
        ).json()
        expected = mlstack_answers(client)
        assert answer["predictions"] == expected["predictions"]
        assert answer["classes"] == expected["classes"]
        for got, want in zip(answer["probabilities"], expected["probabilities"], strict=True):
            assert got == pytest.approx(want, abs=1e-12)
        assert requests.get(f"{base}/swagger.json", timeout=5).status_code == 200
        assert (
            requests.get(f"{base}/algorithms", timeout=5).status_code == 404
        )  # training not chosen
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_offline_bundle_passes_its_tests_and_scores_what_mlstack_predicts(mlstack, venv, tmp_path):
    _app, client = mlstack
    bundle = bundle_dir(client, tmp_path / "unzipped", ["tests"])
    tested = make(bundle, venv, "test")
    assert " passed" in tested.stdout and "failed" not in tested.stdout
    with (tmp_path / "rows.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["age", "city", "income"])
        writer.writerows(
            [["" if r[k] is None else r[k] for k in ("age", "city", "income")] for r in ROWS]
        )
    make(
        bundle,
        venv,
        "predict",
        f"INPUT={tmp_path / 'rows.csv'}",
        f"OUTPUT={tmp_path / 'scored.csv'}",
    )
    with (tmp_path / "scored.csv").open() as fh:
        scored = list(csv.DictReader(fh))
    expected = mlstack_answers(client)
    assert [r["prediction"] for r in scored] == expected["predictions"]
    for row, probabilities in zip(scored, expected["probabilities"], strict=True):
        got = [float(row[f"proba_{c}"]) for c in expected["classes"]]
        assert got == pytest.approx(probabilities, abs=1e-12)


def test_the_docker_bundle_for_the_container_ci_has_the_whole_stack(tmp_path):
    from tests.integration.bundles import docker_bundle

    bundle = docker_bundle(tmp_path)
    for rel in (
        "Dockerfile",
        "docker-compose.yml",
        ".dockerignore",
        "supervisord.conf",
        "nginx.conf",
        "conf/entrypoint.sh",
        "conf/mlstack.env.example",
        "models/people/model.skops",
    ):
        assert (bundle / rel).is_file(), rel
    assert os.access(bundle / "conf/entrypoint.sh", os.X_OK)
    conf = (bundle / "supervisord.conf").read_text()
    assert all(f"[program:{p}]" in conf for p in ("postgres", "gunicorn", "worker", "nginx"))
    assert "BUNDLE_MODELS=models" in (bundle / "Dockerfile").read_text()
    assert "docker-compose up -d --build" in (bundle / "README.md").read_text()
