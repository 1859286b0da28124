"""Helpers for end-to-end bundle checks, shared by tests/integration/test_bundle_e2e.py
and callable from the container CI:

    python -m tests.integration.bundles docker DEST

trains `people` (categorical columns, missing values) in a throwaway mlstack, builds
its bundle with every part (api, swagger, training, database postgres, supervisor,
nginx, docker, tests) through the API and unzips it under DEST; prints the folder.
There, `docker build .` and `docker-compose up` run it the way mlstack's image runs."""

from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from pathlib import Path

from app import create_app
from app.config import TestingConfig
from app.services import services_of
from tests.conftest import AUTH

PEOPLE_CSV = "age,city,income,label\n" + "".join(
    f"{20 + (i * 7) % 45},{['paris', 'lyon', 'nice', ''][i % 4]},{'' if i % 5 == 0 else 900 + (i * 37) % 1200},"
    f"{'senior' if 20 + (i * 7) % 45 > 40 else 'junior'}\n"
    for i in range(80)
)
DOCKER_COMPONENTS = [
    "api",
    "swagger",
    "training",
    "database",
    "supervisor",
    "nginx",
    "docker",
    "tests",
]


def mlstack_with_people(state: Path):
    """(app, test client) of an mlstack whose `people` v1 the worker trained from a CSV."""
    from app.worker import Worker

    config = TestingConfig(var_dir=state / "var", DATABASE_URL=f"sqlite:///{state / 'mlstack.db'}")
    app = create_app(config)
    services_of(app).db.upgrade()
    client = app.test_client()
    res = client.post(
        "/api/v1/datasets",
        headers=AUTH,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(PEOPLE_CSV.encode()), "people.csv"), "target": "label"},
    )
    assert res.status_code == 201, res.get_json()
    res = client.post(
        "/api/v1/models/people/train",
        headers=AUTH,
        json={
            "dataset": res.get_json()["id"],
            "algorithm": "random_forest",
            "params": {"n_estimators": 20},
        },
    )
    assert res.status_code == 202, res.get_json()
    Worker.from_services(services_of(app)).run(max_jobs=1)
    job = client.get(res.headers["Location"]).get_json()
    assert job["status"] == "succeeded", job
    return app, client


def extract(archive: bytes, dest: Path) -> Path:
    """Unzip keeping the recorded modes (zipfile does not apply them; unzip does)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            path.chmod((info.external_attr >> 16) & 0o777)
        top = zf.namelist()[0].split("/", 1)[0]
    return dest / top


def bundle_dir(
    client,
    dest: Path,
    components: list[str],
    database: str | None = None,
    models: tuple[str, ...] = ("people@1",),
) -> Path:
    """Build through the API, download the zip, unzip it into the empty `dest`."""
    body = {"models": list(models), "components": components}
    if database:
        body["database"] = database
    res = client.post("/api/v1/bundles", headers=AUTH, json=body)
    assert res.status_code == 201, res.get_json()
    archive = client.get(res.get_json()["archive"], headers=AUTH)
    assert archive.status_code == 200
    dest.mkdir(parents=True, exist_ok=True)
    return extract(archive.data, dest)


def docker_bundle(dest: Path) -> Path:
    """The full-stack (Docker) bundle of a trained `people`, unzipped under `dest`."""
    with tempfile.TemporaryDirectory(prefix="mlstack-bundle-src-") as state:
        app, client = mlstack_with_people(Path(state))
        try:
            return bundle_dir(client, Path(dest), DOCKER_COMPONENTS, "postgres")
        finally:
            services_of(app).db.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "docker":
        sys.exit("usage: python -m tests.integration.bundles docker DEST")
    print(docker_bundle(Path(sys.argv[2])))
