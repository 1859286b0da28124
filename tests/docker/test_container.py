"""The container, checked through its mapped port, in order (one container for the
module; later tests restart it): ready and healthy; Swagger UI's "Try it out" in
headless Chromium; predict; upload and train with the token (401 without);
supervisorctl status and `restart all` during a training job, which finishes on its
first attempt; `docker restart` and `docker-compose down` + `up` keep every model,
version, dataset and job; nginx's log rotated; no CRIT line; and `docker stop` during a
long job hands it back, so it starts again at once on the next start. Measured times
go to tests/artifacts/docker-measurements.jsonl."""

from __future__ import annotations

import time

import pytest

from tests.docker.conftest import AUTH, record, run
from tests.integration.test_browser import browser, try_it_out_predicts  # noqa: F401 - fixture

pytestmark = pytest.mark.docker

IRIS_ROW = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
PROGRAMS = {"postgres", "gunicorn", "worker", "nginx", "logrotate"}
# a few seconds of fitting on one core
SHORT_JOB = {
    "dataset": "breast_cancer",
    "algorithm": "gradient_boosting",
    "params": {"n_estimators": 300},
}
# a minute or more of fitting and cross-validation, and a model quick to save (saving is
# never interrupted: 50,000 trees fitted in seconds and took over a minute to save)
LONG_JOB = {
    "dataset": "breast_cancer",
    "algorithm": "gradient_boosting",
    "params": {"n_estimators": 8000},
    "cv_folds": 20,
}


def state(c) -> dict:
    models = c.get("/api/v1/models").json()
    return {
        "versions": sorted(
            (m["name"], v["version"])
            for m in models
            for v in c.get(f"/api/v1/models/{m['name']}").json()["versions"]
        ),
        "datasets": sorted(d["id"] for d in c.get("/api/v1/datasets").json()),
        "jobs": sorted(
            (j["id"], j["status"], j.get("result_version"))
            for j in c.get("/api/v1/jobs", params={"limit": 500}).json()
        ),
    }


def test_ready_through_the_mapped_port_and_healthy_soon_after(container):
    assert container.get("/api/v1/health/ready").status_code == 200
    healthy = container.wait_healthy(timeout=60)
    record("healthy_after_ready", seconds=round(healthy, 1), up_to_ready=container.up_seconds)
    # the healthcheck runs every 5 s: healthy within one interval (and a probe) of ready
    assert healthy < 12


def test_swagger_ui_try_it_out_in_chromium(container, browser):  # noqa: F811
    try_it_out_predicts(browser, container.url, "container")


def test_predict(container):
    r = container.post("/api/v1/models/iris/predict", json={"instances": [IRIS_ROW]})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == [2]


def test_upload_and_train_need_the_token(container):
    csv = "a,b,y\n" + "".join(f"{i},{i % 5},{i % 2}\n" for i in range(60))
    files = {"file": ("d.csv", csv.encode(), "text/csv")}
    form = {"target": "y", "name": "ci-upload"}
    assert container.post("/api/v1/datasets", data=form, files=files).status_code == 401
    ds = container.post("/api/v1/datasets", data=form, files=files, headers=AUTH)
    assert ds.status_code == 201, ds.text
    spec = {"dataset": ds.json()["id"], "algorithm": "decision_tree"}
    assert container.post("/api/v1/models/ci-upload/train", json=spec).status_code == 401
    r = container.post("/api/v1/models/ci-upload/train", json=spec, headers=AUTH)
    assert r.status_code == 202, r.text
    job = container.wait_job(r.json()["id"])
    assert job["status"] == "succeeded", job
    pred = container.post(
        "/api/v1/models/ci-upload/predict", json={"instances": [{"a": 3, "b": 1}]}
    )
    assert pred.status_code == 200 and pred.json()["predictions"][0] in (0, 1), pred.text


def test_restart_all_during_training_loses_nothing(container):
    assert container.status() == {p: "RUNNING" for p in PROGRAMS}
    r = container.post("/api/v1/models/ci-restart/train", json=SHORT_JOB, headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    container.wait_job(job_id, until=("fitting", "succeeded"))
    before = state(container)
    start = time.monotonic()
    out = container.exec("supervisorctl", "restart", "all")
    ctl_seconds = time.monotonic() - start
    assert out.stdout.count("started") == len(PROGRAMS), out.stdout
    ready = container.wait_ready(timeout=60)
    record(
        "restart_all",
        supervisorctl_seconds=round(ctl_seconds, 1),
        ready_seconds=round(time.monotonic() - start, 1),
    )
    assert container.status() == {p: "RUNNING" for p in PROGRAMS}
    # stopped in order: the worker finished the job before PostgreSQL went down
    job = container.wait_job(job_id, timeout=30)
    assert job["status"] == "succeeded" and job["attempts"] == 1, job
    after = state(container)
    assert set(before["versions"]) | {("ci-restart", job["result_version"])} <= set(
        after["versions"]
    )
    assert before["datasets"] == after["datasets"]
    assert ready < 60


def test_docker_restart_keeps_everything(container):
    before = state(container)
    old_id = container.id
    run("docker", "restart", old_id, timeout=180)
    container.wait_ready()
    assert container.id == old_id
    assert state(container) == before


def test_compose_down_and_up_keep_everything_in_the_named_volumes(container):
    before = state(container)
    old_id = container.id
    container.compose("down", timeout=180)  # without -v: the volumes stay
    start = time.monotonic()
    container.compose("up", "-d", "--no-build", timeout=300)
    ready = container.wait_ready()
    record("up_again_to_ready", seconds=round(time.monotonic() - start, 1))
    assert container.id != old_id  # a new container on the same volumes
    assert state(container) == before
    assert ready < 60


def test_nginx_access_log_is_rotated(container):
    log = "/var/lib/mlstack/log/nginx-access.log"
    # grow it past the 50 MB limit, then run what [program:logrotate] runs every 5 min
    container.exec(
        "sh", "-c", f"head -c 52428800 /dev/zero | tr '\\\\0' x >> {log}", user="mlstack"
    )
    container.exec(
        "logrotate",
        "-s",
        "/var/lib/mlstack/nginx/run/logrotate.state",
        "/var/lib/mlstack/run/logrotate.conf",
        user="mlstack",
    )
    assert container.get("/api/v1/health/live", headers={"X-Request-ID": "after-rotation"}).ok
    time.sleep(0.5)
    sizes = container.exec("sh", "-c", f"stat -c '%n %s' {log}*").stdout
    files = dict(line.split() for line in sizes.splitlines())
    assert int(files[log + ".1"]) >= 50 * 2**20, files
    assert int(files[log]) < 10_000, files  # nginx reopened it (USR1)
    assert "after-rotation" in container.exec("cat", log).stdout


def test_no_crit_lines_on_start(container):
    logs = container.logs()
    assert "supervisord started" in logs
    assert " CRIT " not in logs, [line for line in logs.splitlines() if " CRIT " in line]


def test_docker_stop_during_a_long_job_hands_it_back(container):
    r = container.post("/api/v1/models/ci-long/train", json=LONG_JOB, headers=AUTH)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    container.wait_job(job_id, until=("fitting",))
    start = time.monotonic()
    run("docker", "stop", container.id, timeout=180)
    stop_seconds = time.monotonic() - start
    logs = container.logs()
    assert "killing 'worker'" not in logs and "stopped: worker (exit status 0)" in logs, logs[
        -3000:
    ]
    run("docker", "start", container.id)
    container.wait_ready()
    app_log = container.exec("cat", "/var/lib/mlstack/log/app.log").stdout
    assert "20 s stop grace over: handing the current job back to the queue" in app_log
    assert f"job {job_id} returned to the queue" in app_log
    # claimed again at once by the new worker, not after the 60 s heartbeat timeout
    job = container.wait_job(job_id, timeout=20, until=("fitting",))
    record(
        "docker_stop_long_job",
        stop_seconds=round(stop_seconds, 1),
        refitting_after_start_seconds=round(time.monotonic() - start - stop_seconds, 1),
    )
    assert job["status"] == "running" and job["attempts"] == 1, job
    assert stop_seconds < 60


def test_the_image_is_lean(image):
    """The project's own layers (above the base) stay small, and carry no compiler, pip
    cache or LLVM; sizes per layer are in docs/container.md."""

    def layers(ref: str) -> tuple[list[str], int]:
        out = run("docker", "history", "--no-trunc", "--format", "{{.ID}}", ref).stdout.split()
        sizes = run("docker", "image", "inspect", "-f", "{{.Size}}", ref).stdout
        return out, int(sizes)

    base = run(
        "sh",
        "-c",
        "sed -n 's/^FROM[[:space:]]*\\([^[:space:]]*\\)[[:space:]]*$/\\1/p' Dockerfile | tail -n 1",
    ).stdout.strip()
    (_, total), (_, base_size) = layers(image), layers(base)
    own_mb = (total - base_size) / 2**20
    record(
        "image_size",
        total_mb=round(total / 2**20),
        base_mb=round(base_size / 2**20),
        own_layers_mb=round(own_mb),
    )
    # 480 MiB before the fast path; onnx and onnxruntime (its tree engine) add about 100
    assert own_mb <= 580, own_mb
    found = run(
        "docker",
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        image,
        "-c",
        "ls /usr/bin/gcc /usr/bin/cc /root/.cache/pip /opt/venv/bin/pip "
        "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1 2>/dev/null; true",
    ).stdout.split()
    assert found == [], found
