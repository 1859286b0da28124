"""The exact fast path on the real stack (supervisord, gunicorn's preloading master and
its forked workers, nginx, PostgreSQL): a linear version is served by the NumPy replay,
the demo trees by their code compiled to C and an uploaded HistGradientBoosting by
onnxruntime in every worker (compiled, or its session made, and proven in the master,
shared by the workers), with one answer whichever worker serves, and the metrics say so;
a worker that inherited onnxruntime leaves at once when stopped."""

from __future__ import annotations

import io
import os
import re
import signal
import time
import uuid

import pytest

from tests.conftest import need_c_compiler
from tests.integration.conftest import AUTH
from tests.stackrun import children

pytestmark = pytest.mark.integration

IRIS_SCHEMA = (
    '{"features": [{"name": "sepal_length", "type": "numeric"}, {"name": "sepal_width", '
    '"type": "numeric"}, {"name": "petal_length", "type": "numeric"}, '
    '{"name": "petal_width", "type": "numeric"}]}'
)


def engine_rows(stack, model: str, engine: str) -> float:
    text = stack.get("/metrics").text
    labels = f'engine="{engine}",model="{model}",version="\\d+"'
    found = re.findall(r"mlstack_engine_rows_total\{" + labels + r"\} (\S+)", text)
    return sum(float(x) for x in found)


def served_by_every_worker(stack, model: str, engine: str, body: dict) -> None:
    before = engine_rows(stack, model, engine)
    # earlier tests' large batches may have gone to scikit-learn (above the crossover):
    # none of these small requests may
    sklearn_before = engine_rows(stack, model, "sklearn")
    answers = set()
    for _ in range(40):  # nginx spreads them over both workers
        r = stack.post(f"/api/v1/models/{model}/predict", json=body)
        assert r.status_code == 200, r.text
        answers.add(repr(r.json()))
    assert len(answers) == 1  # the same bits from every worker
    assert engine_rows(stack, model, engine) - before == 40 * len(body["instances"])
    assert engine_rows(stack, model, "sklearn") == sklearn_before


def test_the_demo_ridge_is_served_by_numpy_in_every_worker(running):
    model = running.get("/api/v1/models/diabetes").json()
    production = next(v for v in model["versions"] if v["stage"] == "production")
    assert production["runtime"]["engine"] == "numpy", production["runtime"]
    assert production["runtime"]["verified"] is True
    example = running.get("/api/v1/models/diabetes/schema").json()["example"]
    served_by_every_worker(running, "diabetes", "numpy", example)


@pytest.fixture(scope="module")
def hist_gradient_boosting(stack):
    """A HistGradientBoosting version (its float64 rows keep it on onnxruntime),
    uploaded and promoted, then preloaded by a restarted gunicorn's master."""
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.ensemble import HistGradientBoostingClassifier

    stack.wait_ready(timeout=90)
    X, y = load_iris(return_X_y=True)
    est = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    buf = io.BytesIO()
    sio.dump(est, buf)
    name = f"it-hgb-{uuid.uuid4().hex[:8]}"
    files = {"file": ("model.skops", buf.getvalue(), "application/octet-stream")}
    data = {"schema": IRIS_SCHEMA, "promote": "true"}
    r = stack.post(f"/api/v1/models/{name}/versions", files=files, data=data, headers=AUTH)
    assert r.status_code == 201, r.text
    assert stack.ctl("restart", "gunicorn").returncode == 0
    stack.wait_ready(timeout=90)
    return name


def master_verdict_line(stack, model: str) -> str:
    """What the current gunicorn master logged of the engine serving `model`."""
    master = stack.status()["gunicorn"][1]
    return stack.wait_for_line(stack.out, f" {master} app.core.fastpath.engine {model} v")


def test_the_demo_trees_are_served_by_compiled_c_in_every_worker(running):
    need_c_compiler()
    versions = running.get("/api/v1/models/iris").json()["versions"]
    for v in versions:
        assert v["runtime"]["engine"] == "native", v["runtime"]
        assert v["runtime"]["verified"] is True
    # compiled and proven once in the master, before the fork: the workers inherit it
    line = master_verdict_line(running, "iris")
    assert "native serves calls" in line, line
    example = running.get("/api/v1/models/iris/schema").json()["example"]
    served_by_every_worker(running, "iris", "native", {**example, "return_proba": True})


def test_a_hist_gradient_boosting_is_served_by_onnxruntime_in_every_worker(
    running, hist_gradient_boosting
):
    name = hist_gradient_boosting
    (version,) = running.get(f"/api/v1/models/{name}").json()["versions"]
    assert version["runtime"]["engine"] == "onnxruntime", version["runtime"]
    assert version["runtime"]["verified"] is True
    # proven once in the master, before the fork, with the session the workers share
    line = master_verdict_line(running, name)
    assert "onnxruntime serves calls" in line, line
    body = {"instances": [[5.1, 3.5, 1.4, 0.2]], "return_proba": True}
    served_by_every_worker(running, name, "onnxruntime", body)


def test_onnxruntime_is_set_up_in_the_master_and_a_stopped_worker_leaves_at_once(running):
    """The master builds onnxruntime's state once (shared by the workers); a worker
    that inherited it would hang at exit until graceful_timeout (30 s), so it leaves
    with os._exit after its clean-up, with a clean status."""
    running.wait_for_line(running.out, "set up in the master, shared by the workers")
    master = running.status()["gunicorn"][1]
    assert master is not None
    workers = children(master)
    victim = max(workers)
    os.kill(victim, signal.SIGTERM)  # gunicorn's graceful stop of one worker
    stopped = time.monotonic()
    while victim in children(master) and time.monotonic() - stopped < 20:
        time.sleep(0.05)
    left_after = time.monotonic() - stopped
    assert victim not in children(master), "the worker hung at exit"
    assert left_after < 10, f"the worker took {left_after:.1f} s to leave"
    line = running.wait_for_line(running.out, f"Worker exiting (pid: {victim})")
    assert line
    time.sleep(1)  # the master has reaped it by now and logged any bad status
    log = running.out.read_text(errors="replace")
    assert f"(pid:{victim}) exited with code" not in log  # a status other than 0
    assert f"(pid:{victim}) was sent" not in log  # killed by a signal
    deadline = time.monotonic() + 30
    while len(children(master)) < len(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children(master)) == len(workers), "the master did not replace the worker"


@pytest.mark.parametrize(("model", "engine"), [("iris", "native"), (None, "onnxruntime")])
def test_calls_above_the_measured_limit_are_answered_by_scikit_learn(
    running, hist_gradient_boosting, model, engine
):
    """The master timed both engines on each tree model: a call of up to its limit is
    the compiled engine's, one row more is scikit-learn's, with answers of the same
    kind; without a limit, a call larger than any timed is the compiled engine's too."""
    if engine == "native":
        need_c_compiler()
    model = model or hist_gradient_boosting
    line = master_verdict_line(running, model)
    assert f"{engine} serves calls of " in line, line
    if "serves calls of any size" in line:
        calls = [(4097, engine)]
    else:
        limit = int(line.split("serves calls of up to ")[1].split()[0])
        calls = [(limit, engine), (limit + 1, "sklearn")]
    example = [5.1, 3.5, 1.4, 0.2]
    for rows, served_by in calls:
        before = engine_rows(running, model, served_by)
        r = running.post(f"/api/v1/models/{model}/predict", json={"instances": [example] * rows})
        assert r.status_code == 200, r.text
        assert len(set(r.json()["predictions"])) == 1  # the same row, the same label
        assert engine_rows(running, model, served_by) - before == rows, (rows, served_by)
