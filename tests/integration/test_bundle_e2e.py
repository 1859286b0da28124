"""End to end: a pipeline trained through the API and the worker (categorical columns,
missing values) is bundled through the API; each bundle is unzipped into an empty
directory and run the way its README says, in a fresh virtualenv (PyPI reachable,
the pip cache used): the online bundle's `make test` and `make run` on a free port,
whose answers must equal mlstack's for the same rows, and the offline bundle's
`make test` and `make predict`. One virtualenv serves both bundles."""
from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import requests

from app import create_app
from app.config import TestingConfig
from tests.conftest import AUTH

PEOPLE_CSV = "age,city,income,label\n" + "".join(
    f"{20 + (i * 7) % 45},{['paris', 'lyon', 'nice', ''][i % 4]},{'' if i % 5 == 0 else 900 + (i * 37) % 1200},"
    f"{'senior' if 20 + (i * 7) % 45 > 40 else 'junior'}\n" for i in range(80))
ROWS = [{"age": 58, "city": "paris", "income": 1600}, {"age": None, "city": "brest", "income": None},
        {"age": 30, "city": None, "income": 1000}, {"age": 44, "city": "lyon", "income": 2000}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def extract(archive: bytes, dest: Path) -> Path:
    """Unzip keeping the recorded modes (zipfile does not apply them; unzip does)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            path.chmod((info.external_attr >> 16) & 0o777)
        top = zf.namelist()[0].split("/", 1)[0]
    return dest / top


def make(bundle: Path, venv: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK", "DATABASE_URL", "VIRTUAL_ENV"))}
    res = subprocess.run(["make", f"VENV={venv}", *args], cwd=bundle, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, f"make {' '.join(args)} failed:\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    return res


@pytest.fixture(scope="module")
def mlstack(tmp_path_factory):
    """An mlstack with `people` trained by the worker from an uploaded CSV."""
    from app.worker import build as build_worker

    tmp = tmp_path_factory.mktemp("mlstack")
    config = TestingConfig(var_dir=tmp / "var", DATABASE_URL=f"sqlite:///{tmp / 'mlstack.db'}")
    app = create_app(config)
    app.extensions["mlstack.db"].upgrade()
    client = app.test_client()
    res = client.post("/api/v1/datasets", headers=AUTH, content_type="multipart/form-data",
                      data={"file": (io.BytesIO(PEOPLE_CSV.encode()), "people.csv"), "target": "label"})
    assert res.status_code == 201, res.get_json()
    res = client.post("/api/v1/models/people/train", headers=AUTH, json={
        "dataset": res.get_json()["id"], "algorithm": "random_forest", "params": {"n_estimators": 20}})
    assert res.status_code == 202, res.get_json()
    build_worker(config).run(max_jobs=1)
    job = client.get(res.headers["Location"]).get_json()
    assert job["status"] == "succeeded", job
    yield app, client
    app.extensions["mlstack.db"].dispose()


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return tmp_path_factory.mktemp("venv") / "env"


def bundle_dir(client, tmp_path, components) -> Path:
    res = client.post("/api/v1/bundles", headers=AUTH, json={"models": ["people@1"], "components": components})
    assert res.status_code == 201, res.get_json()
    archive = client.get(res.get_json()["archive"], headers=AUTH)
    (tmp_path / "unzipped").mkdir()
    return extract(archive.data, tmp_path / "unzipped")


def mlstack_answers(client) -> dict:
    res = client.post("/api/v1/models/people/predict", json={"instances": ROWS, "return_proba": True})
    assert res.status_code == 200, res.get_json()
    return res.get_json()


def test_online_bundle_passes_its_tests_and_serves_what_mlstack_serves(mlstack, venv, tmp_path):
    _app, client = mlstack
    bundle = bundle_dir(client, tmp_path, ["api", "swagger", "database", "tests"])
    tested = make(bundle, venv, "test")
    assert " passed" in tested.stdout and "failed" not in tested.stdout

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK", "DATABASE_URL", "VIRTUAL_ENV"))}
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(["make", f"VENV={venv}", "run", f"PORT={port}"], cwd=bundle, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()[-3000:]
            time.sleep(0.5)
        assert [m["name"] for m in requests.get(f"{base}/models", timeout=5).json()] == ["people"]
        answer = requests.post(f"{base}/models/people/predict", json={"instances": ROWS, "return_proba": True},
                               timeout=10).json()
        expected = mlstack_answers(client)
        assert answer["predictions"] == expected["predictions"]
        assert answer["classes"] == expected["classes"]
        for got, want in zip(answer["probabilities"], expected["probabilities"], strict=True):
            assert got == pytest.approx(want, abs=1e-12)
        assert requests.get(f"{base}/swagger.json", timeout=5).status_code == 200
        assert requests.get(f"{base}/algorithms", timeout=5).status_code == 404  # training not chosen
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
    bundle = bundle_dir(client, tmp_path, ["tests"])
    tested = make(bundle, venv, "test")
    assert " passed" in tested.stdout and "failed" not in tested.stdout
    with (tmp_path / "rows.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["age", "city", "income"])
        writer.writerows([["" if r[k] is None else r[k] for k in ("age", "city", "income")] for r in ROWS])
    make(bundle, venv, "predict", f"INPUT={tmp_path / 'rows.csv'}", f"OUTPUT={tmp_path / 'scored.csv'}")
    with (tmp_path / "scored.csv").open() as fh:
        scored = list(csv.DictReader(fh))
    expected = mlstack_answers(client)
    assert [r["prediction"] for r in scored] == expected["predictions"]
    for row, probabilities in zip(scored, expected["probabilities"]):
        got = [float(row[f"proba_{c}"]) for c in expected["classes"]]
        assert got == pytest.approx(probabilities, abs=1e-12)
