"""The registry with a real database (SQLite here; the API tests repeat the flows on
PostgreSQL): versions, promotion, the per-process cache, artifact safety."""

import pickle
import time

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin

from app.core.errors import (
    ArtifactCorrupt,
    InvalidInput,
    ModelNotFound,
    VersionNotFound,
)
from app.core.registry import ArtifactStore, Registry
from app.core.serving import PredictionService
from app.db import Database
from tests.conftest import iris_schema


class Sneaky(ClassifierMixin, BaseEstimator):
    """A custom class: skops must report it as untrusted."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.zeros(len(X))


@pytest.fixture
def reg(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    yield Registry(db, ArtifactStore(tmp_path / "store"), refresh_seconds=0.2)
    db.dispose()


def test_first_version_becomes_production_and_later_ones_wait_for_promotion(reg, iris_models):
    v1 = reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    v2 = reg.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    assert (v1["version"], v1["stage"]) == (1, "production")
    assert (v2["version"], v2["stage"]) == (2, "available")
    assert reg.resolve("iris").version == 1
    reg.promote("iris", 2)
    assert reg.resolve("iris").version == 2
    reg.promote("iris", 1)  # rollback
    assert reg.resolve("iris").version == 1
    assert reg.get_model("iris")["production_version"] == 1


def test_a_promotion_by_another_process_is_seen_after_the_refresh_interval(
    reg, iris_models, tmp_path
):
    reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    reg.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    assert reg.resolve("iris").version == 1
    other = Registry(Database(reg.db.url), ArtifactStore(tmp_path / "store"))
    other.promote("iris", 2)
    other.db.dispose()
    assert reg.resolve("iris").version == 1  # cached: no database read per request
    time.sleep(0.25)
    assert reg.resolve("iris").version == 2


def test_metadata_is_recorded(reg, iris_models):
    v = reg.add_estimator(
        "iris", iris_models["gb"], schema=iris_schema(), metrics={"accuracy": 0.9}
    )
    assert v["task"] == "classification"
    assert v["algorithm"] == "GradientBoostingClassifier"
    assert v["classes"] == [0, 1, 2]
    assert v["metrics"] == {"accuracy": 0.9}
    assert len(v["artifact_sha256"]) == 64
    assert v["schema"]["features"][0]["name"] == "sepal_length"


def test_the_loaded_model_predicts_like_the_original(reg, iris_models, iris_data):
    reg.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    X, _ = iris_data
    loaded = reg.resolve("iris")
    assert loaded.predict(X)["predictions"] == iris_models["gb"].predict(X).tolist()


def test_a_tampered_artifact_is_refused(reg, iris_models):
    v = reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    path = reg.store.root / f"iris/{v['artifact_sha256']}.skops"
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ArtifactCorrupt):
        reg.resolve("iris")


def test_untrusted_types_are_refused_naming_them(reg, iris_data):
    data = sio.dumps(Sneaky().fit(*iris_data))
    with pytest.raises(InvalidInput) as err:
        reg.add_version("sneaky", data, "skops")
    assert "Sneaky" in err.value.message


def test_pickle_is_refused_unless_the_operator_opted_in(reg, iris_models, tmp_path):
    data = pickle.dumps(iris_models["tree"])
    with pytest.raises(InvalidInput, match="ALLOW_PICKLE"):
        reg.add_version("iris", data, "pickle", schema=iris_schema())
    reg.allow_pickle = True
    assert (
        reg.add_version("iris", data, "pickle", schema=iris_schema())["artifact_format"] == "pickle"
    )


@pytest.mark.parametrize("data", [b"not a zip", b"PK\x03\x04garbage"])
def test_garbage_uploads_are_refused(reg, data):
    with pytest.raises(InvalidInput):
        reg.add_version("junk", data, "skops")


def test_a_schema_whose_names_contradict_the_fitted_names_is_refused(reg, mixed_model):
    with pytest.raises(InvalidInput, match="differ"):
        reg.add_estimator(
            "mixed",
            mixed_model[0],
            schema={
                "features": [
                    {"name": "city", "type": "categorical", "categories": ["a"]},
                    {"name": "age"},
                ]
            },
        )


@pytest.mark.parametrize("name", ["Iris", "-x", "a" * 65, "a b", "../etc", ""])
def test_bad_model_names_are_refused(reg, iris_models, name):
    with pytest.raises(InvalidInput, match="invalid model name"):
        reg.add_estimator(name, iris_models["tree"])


def test_unknown_models_and_versions(reg, iris_models):
    with pytest.raises(ModelNotFound):
        reg.resolve("nope")
    reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    with pytest.raises(VersionNotFound):
        reg.resolve("iris", 7)
    with pytest.raises(VersionNotFound):
        reg.promote("iris", 7)


def test_the_cache_keeps_serving_when_the_database_goes_away(reg, iris_models, tmp_path):
    reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    assert reg.resolve("iris").version == 1
    reg.db.engine.dispose()
    (tmp_path / "r.db").unlink()
    (tmp_path / "r.db").mkdir()  # now unopenable
    time.sleep(0.25)
    assert reg.resolve("iris").version == 1


def test_preload_loads_and_predicts_once_without_counting_a_call(
    tmp_path, iris_models, mixed_model, caplog
):
    calls = []
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.upgrade()
    reg = Registry(db, ArtifactStore(tmp_path / "store"))
    reg.add_estimator("iris", iris_models["gb"], schema=iris_schema())
    est, _ = mixed_model
    reg.add_estimator("people", est)  # categorical + nullable features: the example row must fit
    fresh = Registry(Database(db.url), ArtifactStore(tmp_path / "store"))
    service = PredictionService(
        fresh,
        max_request_rows=10,
        batch_wait_seconds=0,
        batch_max_rows=256,
        on_call=lambda *key: calls.append(key),
    )
    assert fresh.preload_production() == 2
    assert "could not warm" not in caplog.text  # both predicted on their schema's example row
    assert calls == []  # the warm-up predictions are not client calls
    with service.begin("people", None) as prediction:
        schema = prediction.model.schema
        assert prediction.run(schema.rows_to_matrix([schema.example_instance()], 1)[0], False)[
            "predictions"
        ]
    assert calls == [("people", 1)]
    fresh.db.dispose()
    db.dispose()


def test_versions_beyond_the_column_range_are_not_found(reg, iris_models):
    reg.add_estimator("iris", iris_models["tree"], schema=iris_schema())
    for too_large in (2**31, 18640353543201134477312):
        with pytest.raises(VersionNotFound):
            reg.get_version("iris", too_large)
        with pytest.raises(VersionNotFound):
            reg.resolve("iris", too_large)
