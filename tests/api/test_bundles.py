"""The bundles API on SQLite and PostgreSQL: build, file cards, one file, the zip;
every bad input a 4xx with a JSON body."""

import hashlib
import io
import zipfile

import pytest

from app.services import services_of
from tests.conftest import AUTH


def create(client, body, headers=AUTH):
    return client.post("/api/v1/bundles", json=body, headers=headers)


def test_a_bundle_is_built_listed_previewed_and_downloaded(client, iris):
    res = create(
        client, {"models": ["iris@2"], "components": ["api", "swagger", "database", "tests"]}
    )
    assert res.status_code == 201, res.get_json()
    body = res.get_json()
    assert body["archive"] == f"/api/v1/bundles/{body['id']}/archive"
    assert res.headers["Location"].endswith(f"/api/v1/bundles/{body['id']}")
    paths = {f["path"]: f for f in body["files"]}
    assert {
        "README.md",
        "manifest.json",
        "Makefile",
        "models/iris/model.skops",
        "tests/test_service.py",
    } <= set(paths)

    shown = client.get(f"/api/v1/bundles/{body['id']}", headers=AUTH).get_json()
    assert shown["files"] == body["files"] and shown["name"] == "mlstack-bundle-iris"

    readme = client.get(f"/api/v1/bundles/{body['id']}/files/README.md", headers=AUTH)
    assert readme.status_code == 200 and readme.mimetype == "text/plain"
    assert "curl -s -X POST" in readme.get_data(as_text=True)
    assert hashlib.sha256(readme.data).hexdigest() == paths["README.md"]["sha256"]

    archive = client.get(body["archive"], headers=AUTH)
    assert archive.status_code == 200 and archive.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.data)).namelist()
    assert sorted(n.split("/", 1)[1] for n in names) == sorted(paths)
    assert hashlib.sha256(archive.data).hexdigest().startswith(body["id"])


def test_the_same_request_gives_the_same_bundle(client, iris):
    first = create(client, {"models": ["iris"]}).get_json()
    second = create(client, {"models": ["iris@1"]}).get_json()
    assert first["id"] == second["id"]
    other = create(client, {"models": ["iris@2"]}).get_json()
    assert other["id"] != first["id"]


def test_the_manifest_names_the_source_version(client, iris):
    body = create(client, {"models": ["iris@2"], "components": ["tests"]}).get_json()
    import json

    manifest = json.loads(
        client.get(f"/api/v1/bundles/{body['id']}/files/manifest.json", headers=AUTH).data
    )
    assert manifest["models"][0]["source_version"] == 2 and manifest["components"] == ["tests"]
    shown = client.get("/api/v1/models/iris/versions/2").get_json()
    assert manifest["models"][0]["artifact_sha256"] == shown["artifact_sha256"]


def test_an_expired_bundle_is_gone(app, client, iris):
    body = create(client, {"models": ["iris"]}).get_json()
    services_of(app).bundles.store.ttl_seconds = 0
    assert client.get(f"/api/v1/bundles/{body['id']}", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"models": ["nope"]}, 404, None),
        ({"models": ["iris@9"]}, 404, None),
        ({"models": ["Bad Name"]}, 400, "name"),
        ({"models": []}, 400, "models"),
        ({"models": "iris"}, 400, "models"),
        ({"models": ["iris", "iris@2"]}, 400, "models"),
        ({"models": ["iris"], "components": ["api", "warp-drive"]}, 400, "components"),
        ({"models": ["iris"], "components": ["nginx", "tests"]}, 400, "components.nginx"),
        (
            {"models": ["iris"], "components": ["api", "database"], "database": "oracle"},
            400,
            "database",
        ),
        ({"models": ["iris"], "components": "api"}, 400, "components"),
        ({"models": ["iris"], "extra": 1}, 400, "extra"),
        ({}, 400, "models"),
        ([1, 2], 400, "body"),
        ("iris", 400, "body"),
    ],
)
def test_bad_requests_are_refused_with_json(client, iris, body, status, field):
    res = create(client, body)
    assert res.status_code == status, res.get_json()
    answer = res.get_json()
    assert answer["message"]
    if field:
        assert field in answer.get("errors", {}), answer


def test_a_body_that_is_not_json_is_400(client, iris):
    res = client.post(
        "/api/v1/bundles", data=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert res.status_code == 400 and res.get_json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "../../../etc/passwd",
        "..%2F..%2Fapp%2Fconfig.py",
        "/etc/passwd",
        "models/../../x",
        "nope.txt",
        "%00",
        "app/../../README.md",
    ],
)
def test_file_paths_outside_the_bundle_are_404(client, iris, path):
    body = create(client, {"models": ["iris"]}).get_json()
    res = client.get(
        f"/api/v1/bundles/{body['id']}/files/{path}", headers=AUTH, follow_redirects=True
    )
    assert res.status_code == 404 and res.get_json()["message"]


@pytest.mark.parametrize("bundle_id", ["0" * 32, "nope", "../etc", "A" * 32, "0" * 200])
@pytest.mark.parametrize("suffix", ["", "/archive", "/files/README.md"])
def test_unknown_bundles_are_404(client, bundle_id, suffix):
    res = client.get(f"/api/v1/bundles/{bundle_id}{suffix}", headers=AUTH)
    assert res.status_code == 404 and res.get_json()["message"]


@pytest.mark.parametrize(
    "method, url", [("post", "/api/v1/bundles"), ("get", f"/api/v1/bundles/{'0' * 32}")]
)
def test_bundles_need_the_admin_token(client, method, url):
    assert getattr(client, method)(url, json={"models": ["iris"]}).status_code == 401
    assert (
        getattr(client, method)(
            url, json={"models": ["iris"]}, headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 403
    )


def test_swagger_documents_the_bundle_operations(client):
    paths = client.get("/api/v1/swagger.json").get_json()["paths"]
    assert {
        "/bundles",
        "/bundles/{bundle_id}",
        "/bundles/{bundle_id}/files/{path}",
        "/bundles/{bundle_id}/archive",
    } <= set(paths)
    assert paths["/bundles"]["post"]["parameters"][0]["schema"]["$ref"].endswith("BundleRequest")


def test_the_cli_writes_a_zip_or_a_folder_from_registered_versions(app, iris, tmp_path):
    runner = app.test_cli_runner()
    res = runner.invoke(
        args=[
            "bundle",
            "iris@2",
            "--with",
            "api,swagger,database,tests",
            "--out",
            str(tmp_path / "iris.zip"),
        ]
    )
    assert res.exit_code == 0, res.output
    names = zipfile.ZipFile(tmp_path / "iris.zip").namelist()
    assert "mlstack-bundle-iris/models/iris/model.skops" in names
    res = runner.invoke(
        args=["bundle", "iris", "--with", "tests", "--out", str(tmp_path / "offline")]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "offline" / "Makefile").read_text().count("predict: install") == 1


def test_the_cli_bundles_a_local_skops_file_with_a_schema(app, iris_models, tmp_path):
    import json

    import skops.io as sio

    from tests.conftest import iris_schema

    (tmp_path / "tree.skops").write_bytes(sio.dumps(iris_models["tree"]))
    (tmp_path / "schema.json").write_text(json.dumps(iris_schema()))
    res = app.test_cli_runner().invoke(
        args=[
            "bundle",
            "--skops",
            str(tmp_path / "tree.skops"),
            "--name",
            "flowers",
            "--schema",
            str(tmp_path / "schema.json"),
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "b" / "models" / "flowers" / "model.json").read_text())
    assert record["examples"][0]["row"]["sepal_length"] == 5.1
    assert (
        record["examples"][0]["prediction"]
        == iris_models["tree"].predict([[5.1, 3.5, 1.4, 0.2]])[0]
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["nope"], "not found"),
        (["iris", "--with", "nginx"], "needs 'api'"),
        ([], "name at least one model"),
    ],
)
def test_the_cli_explains_what_is_wrong(app, iris, tmp_path, args, words):
    res = app.test_cli_runner().invoke(args=["bundle", *args, "--out", str(tmp_path / "x.zip")])
    assert res.exit_code != 0 and words in res.output


def test_swagger_and_training_can_be_switched_off(tmp_path):
    from app import create_app
    from app.config import TestingConfig

    app = create_app(
        TestingConfig(
            var_dir=tmp_path,
            DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
            SWAGGER_ENABLED=False,
            TRAINING_ENABLED=False,
        )
    )
    services_of(app).db.upgrade()
    client = app.test_client()
    for url in (
        "/api/v1/swagger.json",
        "/api/v1/docs",
        "/api/v1/algorithms",
        "/api/v1/jobs",
        "/api/v1/datasets",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get("/api/v1/models").status_code == 200
    assert client.post("/api/v1/models/x/train", json={}, headers=AUTH).status_code in (404, 405)
    services_of(app).db.dispose()


def test_init_registers_a_bundles_models_once(iris_models, tmp_path):
    """(No `app` fixture: pytest-flask would push its app's context, which the CLI reuses.)"""
    import skops.io as sio

    from app import create_app
    from app.config import ROOT, TestingConfig
    from app.core.bundles.build import build
    from app.core.bundles.components import resolve
    from app.core.bundles.models import from_file
    from app.core.bundles.sources import SourceTree
    from tests.conftest import iris_schema

    model = from_file("iris", sio.dumps(iris_models["gb"]), schema=iris_schema())
    build([model], resolve(), SourceTree(ROOT)).write_dir(tmp_path / "b")
    fresh = create_app(
        TestingConfig(
            var_dir=tmp_path / "fresh",
            DATABASE_URL=f"sqlite:///{tmp_path / 'f.db'}",
            BUNDLE_MODELS=tmp_path / "b" / "models",
        )
    )
    runner = fresh.test_cli_runner()
    assert "bundle models registered: iris v1" in runner.invoke(args=["init"]).output
    assert "none new" in runner.invoke(args=["init"]).output
    with fresh.app_context():
        version = services_of(fresh).registry.get_version("iris", 1)
    assert version["artifact_sha256"] == model.artifact_sha256
    assert version["schema"]["features"][0]["example"] == 5.1
    services_of(fresh).db.dispose()
