"""A deployment bundle with `docker` chosen, run the way mlstack's own image is run: the
bundle (a trained pipeline with categorical columns and missing values, PostgreSQL,
supervisor, nginx) built from its own Dockerfile, its own docker-compose.yml brought up
on a free 127.0.0.1 port, and its model answering through the mapped port exactly what
mlstack answered for the same rows."""

from __future__ import annotations

import os

import pytest

from app.services import services_of
from tests.conftest import AUTH as MLSTACK_AUTH
from tests.docker.conftest import (
    AUTH,
    Container,
    bring_down,
    free_port,
    record,
    require_docker,
    run,
)
from tests.integration.bundles import DOCKER_COMPONENTS, bundle_dir, mlstack_with_people

pytestmark = pytest.mark.docker

ROWS = [
    {"age": 52, "city": "lyon", "income": 1500},
    {"age": 30, "city": None, "income": None},
    {"age": 61, "city": "atlantis", "income": 1900},
]
BUNDLE_IMAGE = "mlstackci-bundle:latest"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """(the unzipped docker bundle, mlstack's own answer for ROWS)."""
    require_docker()
    state = tmp_path_factory.mktemp("bundle-src")
    app, client = mlstack_with_people(state)
    try:
        folder = bundle_dir(client, state / "out", DOCKER_COMPONENTS, "postgres")
        res = client.post(
            "/api/v1/models/people/predict",
            headers=MLSTACK_AUTH,
            json={"instances": ROWS, "return_proba": True},
        )
        assert res.status_code == 200, res.get_json()
        return folder, res.get_json()
    finally:
        services_of(app).db.dispose()


def test_a_docker_bundle_builds_runs_and_answers_as_mlstack(bundle, tmp_path):
    folder, expected = bundle
    run("docker", "build", "--pull=false", "-q", "-t", BUNDLE_IMAGE, str(folder), timeout=1200)
    # the bundle's own compose file, its image renamed so mlstack's is left as it is
    override = tmp_path / "image.yml"
    override.write_text(f'version: "3.8"\nservices:\n  app:\n    image: {BUNDLE_IMAGE}\n')
    c = Container(
        f"mlstackcib{os.getpid()}", free_port(), (folder / "docker-compose.yml", override)
    )
    try:
        c.compose("up", "-d", "--no-build", timeout=300)
        record("bundle_up_to_ready", seconds=round(c.wait_ready(timeout=180), 1))
        models = [m["name"] for m in c.get("/api/v1/models").json()]
        assert models == ["people"]  # the bundle's model, no demo models
        res = c.post(
            "/api/v1/models/people/predict", json={"instances": ROWS, "return_proba": True}
        )
        assert res.status_code == 200, res.text
        answer = res.json()
        assert answer["predictions"] == expected["predictions"]
        assert answer["probabilities"] == expected["probabilities"]
        assert c.post("/api/v1/models/people/versions", headers={}).status_code == 401
        assert c.get("/api/v1/health/ready", headers=AUTH).status_code == 200
    finally:
        bring_down(c)
        run("docker", "rmi", "-f", BUNDLE_IMAGE, check=False)
