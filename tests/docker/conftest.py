"""The container for real: the project's image built by the Docker engine, the real
docker-compose.yml brought up on a free 127.0.0.1 port, and everything checked through
that mapped port, `docker exec` and the engine. Run by `make docker-test` (.ci/docker-test),
which starts the engine and makes the base image first.

The compose project has its own name, so its containers and volumes are its own; at
the end it is brought down with its volumes, and any container left is removed by id."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import need_binary
from tests.stackrun import poll_job

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlstack:latest"  # docker-compose.yml's image
TOKEN = "ci-" + secrets.token_urlsafe(16)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ARTIFACTS = ROOT / "tests" / "artifacts"


def record(name: str, **values) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "docker-measurements.jsonl", "a") as fh:
        fh.write(
            json.dumps({"measurement": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **values})
            + "\n"
        )


def run(
    *cmd: str, timeout: float = 300, check: bool = True, env=None
) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Container:
    """The compose project's one container: compose, docker exec and HTTP through the port."""

    def __init__(
        self,
        project: str,
        port: int,
        compose_files: tuple[Path, ...] = (ROOT / "docker-compose.yml",),
    ):
        self.project = project
        self.port = port
        self.compose_files = compose_files
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "API_TOKEN": TOKEN,
            "MLSTACK_PORT": str(port),
            "MLSTACK_BIND": "127.0.0.1",
            "COMPOSE_PROJECT_NAME": project,
        }
        self.http = requests.Session()

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        files = [arg for path in self.compose_files for arg in ("-f", str(path))]
        return run("docker-compose", *files, *args, timeout=timeout, env=self.env)

    @property
    def id(self) -> str:
        ids = self.compose("ps", "-q", "app").stdout.split()
        assert len(ids) == 1, ids
        return ids[0]

    def exec(self, *cmd: str, timeout: float = 180, check: bool = True, user: str | None = None):
        return run(
            "docker",
            "exec",
            *(["-u", user] if user else []),
            self.id,
            *cmd,
            timeout=timeout,
            check=check,
        )

    def logs(self) -> str:
        out = run("docker", "logs", self.id, check=False)
        return out.stdout + out.stderr

    def health(self) -> str:
        return run("docker", "inspect", "-f", "{{.State.Health.Status}}", self.id).stdout.strip()

    def wait_ready(self, timeout: float = 120) -> float:
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            restarts = run("docker", "inspect", "-f", "{{.RestartCount}}", self.id).stdout.strip()
            assert restarts == "0", (
                f"the container restarted {restarts} time(s)\n{self.logs()[-4000:]}"
            )
            try:
                last = self.http.get(self.url + "/api/v1/health/ready", timeout=5)
                if last.status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"not ready after {timeout} s: {last!r}\n{self.logs()[-4000:]}")

    def wait_healthy(self, timeout: float = 120) -> float:
        start = time.monotonic()
        while self.health() != "healthy":
            assert time.monotonic() - start < timeout, f"not healthy: {self.health()}"
            time.sleep(0.5)
        return time.monotonic() - start

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 30)
        return self.http.get(self.url + path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return self.http.post(self.url + path, **kw)

    def status(self) -> dict[str, str]:
        out = self.exec("supervisorctl", "status", check=False).stdout
        return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}

    def wait_job(
        self, job_id: int, timeout: float = 180, until=("succeeded", "failed", "cancelled")
    ):
        job = poll_job(self.get, job_id, timeout, tuple(until), interval=0.3)
        if job is None:
            raise AssertionError(
                f"job {job_id} not {until} after {timeout} s: {self.get(f'/api/v1/jobs/{job_id}').text}"
            )
        return job


def require_docker() -> None:
    for tool in ("docker", "docker-compose"):
        if shutil.which(tool) is None:
            need_binary(tool)
    if subprocess.run(["docker", "info"], capture_output=True, timeout=60).returncode != 0:
        need_binary("a running Docker engine (make docker-test starts one)")


@pytest.fixture(scope="session")
def image() -> str:
    """The project's Dockerfile, built now (the base image must be local: .ci/docker-base.sh)."""
    require_docker()
    start = time.monotonic()
    run("docker", "build", "--pull=false", "-q", "-t", IMAGE, str(ROOT), timeout=1200)
    record("image_build", seconds=round(time.monotonic() - start, 1))
    return IMAGE


@pytest.fixture(scope="session")
def container(image):
    c = Container(f"mlstackci{os.getpid()}", free_port())
    try:
        c.compose("up", "-d", "--no-build", timeout=300)
        ready = c.wait_ready(timeout=180)
        c.up_seconds = ready
        record("up_to_ready", seconds=round(ready, 1))
        yield c
    finally:
        bring_down(c)


def bring_down(c: Container) -> None:
    """down with the volumes; then whatever it left, by id."""
    files = [arg for path in c.compose_files for arg in ("-f", str(path))]
    compose = ["docker-compose", *files]
    ids = run(*compose, "ps", "-q", check=False, env=c.env).stdout.split()
    run(*compose, "down", "-v", "--remove-orphans", "-t", "90", timeout=300, check=False, env=c.env)
    for cid in ids:
        run("docker", "rm", "-f", "-v", cid, check=False)
    left = run("docker", "volume", "ls", "-q", "--filter", f"name={c.project}_").stdout.split()
    for volume in left:
        run("docker", "volume", "rm", volume, check=False)
