"""Real gunicorn, several workers, no mocks: a promotion reaches every worker within
2 seconds without a restart, and /metrics adds up the samples of all workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.pgserver import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-test-token"
BODY = orjson.dumps({"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})


def call(
    url: str, data: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(
        url, data=data, headers=headers or {}, method="POST" if data is not None else "GET"
    )
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:  # a new connection each time
            return res.status, dict(res.headers), res.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    var = tmp_path_factory.mktemp("gunicorn")
    env = dict(
        os.environ,
        MLSTACK_ENV="production",
        API_TOKEN=TOKEN,
        MLSTACK_VAR=str(var),
        PROMETHEUS_MULTIPROC_DIR=str(var / "prometheus"),
        GUNICORN_WORKERS="3",
        GUNICORN_BIND=f"127.0.0.1:{free_port()}",
        REGISTRY_REFRESH_SECONDS="1.0",
    )
    env.pop("DATABASE_URL", None)
    bindir = Path(sys.executable).parent
    subprocess.run(
        [str(bindir / "flask"), "--app", "wsgi", "init"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with open(var / "gunicorn.out", "wb") as out:
        proc = subprocess.Popen(
            [str(bindir / "gunicorn"), "-c", "conf/gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = "http://" + env["GUNICORN_BIND"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(url + "/api/v1/health/ready")[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("gunicorn did not become ready:\n" + (var / "gunicorn.out").read_text()[-3000:])
    yield url, var
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def served(var: Path, rids: set[str]) -> dict[str, tuple[int, int]]:
    """request id -> (worker pid, version) from the app's access log."""
    out = {}
    for line in (var / "log" / "access.log").read_text().splitlines():
        m = re.search(r"INFO (\d+) mlstack.access rid=(\S+) .* model=iris version=(\d+)", line)
        if m and m.group(2) in rids:
            out[m.group(2)] = (int(m.group(1)), int(m.group(3)))
    return out


def test_a_promotion_reaches_every_worker_within_two_seconds(gunicorn):
    url, var = gunicorn
    status, _, body = call(url + "/api/v1/models/iris")
    assert status == 200 and orjson.loads(body)["production_version"] == 2
    for _ in range(30):  # every worker has v2 cached
        assert orjson.loads(call(url + "/api/v1/models/iris/predict", BODY)[2])["version"] == 2

    status, _, _ = call(
        url + "/api/v1/models/iris/versions/1/promote", b"{}", {"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200
    promoted = time.monotonic()
    late: list[tuple[str, int]] = []
    i = 0
    while time.monotonic() - promoted < 3.0:
        rid = f"promo-{i}"
        i += 1
        status, _, body = call(url + "/api/v1/models/iris/predict", BODY, {"X-Request-ID": rid})
        assert status == 200
        if time.monotonic() - promoted > 2.0:
            late.append((rid, orjson.loads(body)["version"]))
    assert late and all(v == 1 for _, v in late), late
    pids = {pid for pid, _ in served(var, {rid for rid, _ in late}).values()}
    assert len(pids) >= 2, "the late requests should have reached several workers"


def test_metrics_add_up_across_workers(gunicorn):
    url, var = gunicorn

    def predicted_rows() -> float:
        text = call(url + "/metrics")[2].decode()
        return sum(
            float(v)
            for v in re.findall(
                r'^mlstack_predictions_total\{model="iris",version="\d+"\} (\S+)$', text, re.M
            )
        )

    before = predicted_rows()
    rids = {f"metric-{i}" for i in range(40)}
    for rid in rids:
        assert call(url + "/api/v1/models/iris/predict", BODY, {"X-Request-ID": rid})[0] == 200
    assert predicted_rows() - before == 80  # 40 requests x 2 rows, whichever worker answered
    assert len({pid for pid, _ in served(var, rids).values()}) >= 2
