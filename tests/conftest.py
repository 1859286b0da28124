"""Shared fixtures. The `app` fixture runs every API test twice: on SQLite and on a
real PostgreSQL server that the session starts (see tests/pgserver.py). Without the
PostgreSQL binaries the PostgreSQL half skips on a laptop, and fails in CI (CI=true)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from app import create_app
from app.config import TestingConfig
from app.services import services_of
from tests.pgserver import PostgresServer, find_bindir

IN_CI = os.environ.get("CI", "").lower() == "true"
IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_db_counter = itertools.count()


def need_binary(what: str) -> None:
    """Skip on a laptop without `what`; in CI a missing binary is a failure."""
    if IN_CI:
        pytest.fail(f"{what} is required in CI (.ci/run installs it)")
    pytest.skip(f"{what} not installed")


def need_c_compiler() -> None:
    """The fast path compiles small tree ensembles with the system's C compiler
    (app/core/fastpath/native_trees.py); without one, onnxruntime sums them."""
    from app.core.fastpath.native_trees import COMPILER

    if shutil.which(COMPILER) is None:
        need_binary(f"a C compiler ({COMPILER}, Debian's gcc)")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    bindir = find_bindir()
    if bindir is None:
        need_binary("PostgreSQL server binaries")
    # not under pytest's tmp dir: that is private to root, and PostgreSQL runs as postgres
    server = PostgresServer(bindir, Path(tempfile.mkdtemp(prefix="mlstack-pg-"))).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"t{os.getpid()}_{next(_db_counter)}")


@pytest.fixture
def config(tmp_path, database_url):
    return TestingConfig(var_dir=tmp_path / "var", DATABASE_URL=database_url)


@pytest.fixture
def app(config):
    app = create_app(config)
    services_of(app).db.upgrade()
    yield app
    services_of(app).db.dispose()


@pytest.fixture
def registry(app):
    return services_of(app).registry


@pytest.fixture(scope="session")
def iris_data():
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def iris_models(iris_data):
    """Two small fitted iris classifiers (fixed seeds), shared by the session."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_data
    return {
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y),
        "gb": GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y),
    }


@pytest.fixture(scope="session")
def diabetes_model():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    X, y = load_diabetes(return_X_y=True)
    return Ridge(alpha=0.1).fit(X, y), X


def iris_schema(example=None) -> dict:
    example = example if example is not None else [5.1, 3.5, 1.4, 0.2]
    return {
        "features": [
            {"name": n, "type": "numeric", "example": float(x)}
            for n, x in zip(IRIS_FEATURES, example, strict=True)
        ]
    }


@pytest.fixture
def iris(registry, iris_models):
    """iris v1 = decision tree (production), v2 = gradient boosting (not promoted)."""
    registry.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    registry.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    return iris_models


@pytest.fixture(scope="session")
def mixed_model():
    """A pipeline on a DataFrame with a categorical column, missing values handled."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "city": rng.choice(["paris", "lyon", "nice"], n).astype(object),
        }
    )
    y = (frame["age"] > 40).astype(int).to_numpy()
    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age"]),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="error")
                ),
                ["city"],
            ),
        ]
    )
    return make_pipeline(ct, LogisticRegression()).fit(frame, y), frame
