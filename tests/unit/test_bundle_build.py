"""Building bundles without a server: determinism, the manifest, the deployment files
taken from this repository's own files, the models and their answered examples."""

import hashlib
import io
import json
import tomllib
import zipfile

import pytest
import skops.io as sio

from app.config import ROOT
from app.core.bundles.build import build
from app.core.bundles.components import resolve
from app.core.bundles.models import from_file, parse_refs
from app.core.bundles.pins import pinned_pyproject
from app.core.bundles.scoring import load, score
from app.core.bundles.sources import SourceTree
from app.core.errors import InvalidInput
from tests.conftest import iris_schema

TREE = SourceTree(ROOT)
FULL = ["api", "swagger", "database", "nginx", "supervisor", "docker", "tests"]


@pytest.fixture(scope="module")
def trained():
    """A pipeline from mlstack's training code: categorical columns and missing values."""
    import numpy as np
    import pandas as pd

    from app.core.training import train

    rng = np.random.default_rng(1)
    n = 120
    frame = pd.DataFrame(
        {
            "age": rng.normal(45, 12, n).round(),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "income": rng.normal(1500, 300, n).round(),
        }
    )
    frame.loc[::7, "income"] = np.nan
    frame.loc[::11, "city"] = None
    frame["label"] = np.where(frame["age"] > 45, "senior", "junior")
    result = train(
        {
            "dataset": "people",
            "target": "label",
            "algorithm": "random_forest",
            "params": {"n_estimators": 10},
        },
        frame,
    )
    return result


@pytest.fixture(scope="module")
def mixed(trained):
    return from_file("mixed", sio.dumps(trained.pipeline), schema=trained.schema)


@pytest.fixture(scope="module")
def flowers(iris_models):
    return from_file("flowers", sio.dumps(iris_models["gb"]), schema=iris_schema())


def test_two_builds_give_the_same_bytes(mixed, flowers):
    again = from_file("mixed", mixed.artifact, schema=mixed.schema)
    first = build([mixed, flowers], resolve(FULL, "postgres"), TREE)
    second = build([again, flowers], resolve(FULL, "postgres"), TREE)
    assert first.archive == second.archive
    names = zipfile.ZipFile(io.BytesIO(first.archive)).namelist()
    assert names == sorted(names) and all(
        n.startswith("mlstack-bundle-mixed-flowers/") for n in names
    )
    infos = zipfile.ZipFile(io.BytesIO(first.archive)).infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    modes = {i.filename.split("/", 1)[1]: i.external_attr >> 16 for i in infos}
    assert modes["conf/entrypoint.sh"] == 0o100755 and modes["README.md"] == 0o100644


def test_the_manifest_lists_every_file_with_size_and_sha256(mixed):
    bundle = build([mixed], resolve(), TREE)
    doc = json.loads(bundle.files["manifest.json"].data)
    listed = {f["path"]: f for f in doc["files"]}
    assert set(listed) == set(bundle.files) - {"manifest.json"}
    for path, card in listed.items():
        data = bundle.files[path].data
        assert (card["bytes"], card["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (
        doc["components"] == ["api", "database", "swagger", "tests"] and doc["database"] == "sqlite"
    )
    assert doc["models"] == [
        {
            "name": "mixed",
            "source_version": None,
            "artifact": "models/mixed/model.skops",
            "artifact_sha256": mixed.artifact_sha256,
            "sklearn_version": mixed.sklearn_version,
        }
    ]
    assert (
        doc["mlstack_version"]
        == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    )


def test_deployment_files_are_this_repositorys_own(mixed):
    bundle = build([mixed], resolve(FULL + ["training"], "postgres"), TREE)
    for rel in (
        "nginx.conf",
        "conf/entrypoint.sh",
        "conf/gunicorn.conf.py",
        "logging.conf",
        "docker-compose.yml",
        "supervisord.conf",
        "conf/run-dev.sh",
        "app/core/registry.py",
    ):
        assert bundle.files[rel].data == (ROOT / rel).read_bytes(), rel
    dockerfile = bundle.files["Dockerfile"].data.decode()
    assert dockerfile.startswith((ROOT / "Dockerfile").read_text().rstrip("\n"))
    assert "BUNDLE_MODELS=models" in dockerfile and "SEED_DEMO_MODELS=false" in dockerfile


def test_parts_left_out_are_filtered_from_the_shared_files(mixed):
    bundle = build([mixed], resolve(["api", "database", "supervisor"], "postgres"), TREE)
    conf = bundle.files["supervisord.conf"].data.decode()
    assert "[program:gunicorn]" in conf and "[program:postgres]" in conf
    assert "[program:worker]" not in conf and "[program:nginx]" not in conf
    assert "nginx.conf" not in bundle.files and "Dockerfile" not in bundle.files
    run_dev = bundle.files["conf/run-dev.sh"].data.decode()
    assert "gunicorn -c conf/gunicorn.conf.py wsgi:app" in run_dev and "wsgi worker" not in run_dev
    env = bundle.files["bundle.env"].data.decode()
    assert (
        "TRAINING_ENABLED=false" in env
        and "SWAGGER_ENABLED=false" in env
        and "UI_ENABLED=false" in env
    )


def test_an_offline_bundle_has_a_scorer_and_no_server(mixed):
    bundle = build([mixed], resolve(["tests"]), TREE)
    assert "conf/run-dev.sh" not in bundle.files and "tests/test_scoring.py" in bundle.files
    makefile = bundle.files["Makefile"].data.decode()
    assert "predict: install" in makefile and "run: install" not in makefile
    assert (
        "make predict MODEL=mixed INPUT=rows.csv OUTPUT=scored.csv"
        in bundle.files["README.md"].data.decode()
    )


def test_dependencies_are_pinned_scikit_learn_to_the_models_version(mixed):
    text, pins = pinned_pyproject((ROOT / "pyproject.toml").read_text(), [mixed])
    deps = tomllib.loads(text)["project"]["dependencies"]
    assert f"scikit-learn=={mixed.sklearn_version}" in deps
    assert all("==" in d for d in deps) and any(d.startswith("scipy==") for d in deps)
    other = from_file("other", mixed.artifact)
    other.sklearn_version = "1.0.0"
    with pytest.raises(InvalidInput, match="different scikit-learn versions"):
        pinned_pyproject((ROOT / "pyproject.toml").read_text(), [mixed, other])


def test_examples_include_missing_values_answered_by_the_model(mixed, trained):
    import pandas as pd

    est = trained.pipeline
    assert [e["row"] for e in mixed.examples][1] == {"age": None, "city": None, "income": None}
    for example in mixed.examples:
        frame = pd.DataFrame([example["row"]]).astype(
            {"age": float, "city": object, "income": float}
        )
        assert example["prediction"] == est.predict(frame)[0]
        assert example["probabilities"] == pytest.approx(est.predict_proba(frame)[0].tolist())


def test_the_offline_scorer_answers_a_csv_like_the_model(tmp_path, mixed, trained):
    import pandas as pd

    bundle = build([mixed], resolve(["tests"]), TREE)
    bundle.write_dir(tmp_path)
    model = load(tmp_path / "models", None)
    scored = score(model, b"age,city,income\n30,paris,1200\n,lyon,\n50,,1800\n").splitlines()
    assert scored[0] == "age,city,income,prediction,proba_junior,proba_senior"
    frame = pd.DataFrame(
        {
            "age": [30.0, None, 50.0],
            "city": ["paris", "lyon", None],
            "income": [1200.0, None, 1800.0],
        }
    ).astype({"city": object})
    assert [line.split(",")[3] for line in scored[1:]] == trained.pipeline.predict(frame).tolist()


@pytest.mark.parametrize("refs", [[], "iris", ["Bad Name"], ["iris@x"], ["iris", "iris@2"], [3]])
def test_bad_model_references_are_refused(refs):
    with pytest.raises(InvalidInput):
        parse_refs(refs)


def test_a_missing_source_file_is_reported_not_shipped(tmp_path, mixed):
    from app.core.errors import Unavailable

    with pytest.raises(Unavailable, match="MLSTACK_HOME"):
        build([mixed], resolve(), SourceTree(tmp_path))


def test_every_conf_file_the_supervised_stack_names_ships_with_it():
    """supervisord.conf and the entrypoint name files under conf/: a bundle with the
    supervisor component must carry each of them (a missing one stops supervisord)."""
    import re

    from app.core.bundles.sources import CODE_FILES, COMPONENT_FILES

    shipped = set(COMPONENT_FILES["supervisor"]) | set(CODE_FILES)
    for name in ("supervisord.conf", "conf/entrypoint.sh"):
        text = (ROOT / name).read_text()
        named = set(re.findall(r"conf/[A-Za-z0-9_.-]+\.(?:py|sh)", text))
        named |= {f"conf/{m}.py" for m in re.findall(r"(\w+):make_rpcinterface", text)}
        assert named <= shipped, (name, sorted(named - shipped))
