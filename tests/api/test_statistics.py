"""Training statistics in the schema over HTTP: recorded by training, and by an upload
from its optional `sample` CSV; refused samples get a 400 naming the problem."""

from __future__ import annotations

import io

import skops.io as sio

from tests.api.test_training import people_csv, train, upload, worker  # noqa: F401 (fixture)
from tests.conftest import AUTH


def upload_model(client, name, data, sample: bytes | None = None):
    fields = {"file": (io.BytesIO(data), "model.skops")}
    if sample is not None:
        fields["sample"] = (io.BytesIO(sample), "sample.csv")
    return client.post(
        f"/api/v1/models/{name}/versions",
        data=fields,
        headers=AUTH,
        content_type="multipart/form-data",
    )


def test_trained_versions_record_the_training_range_and_frequencies(client, worker):  # noqa: F811
    dataset = upload(client, people_csv()).get_json()
    assert (
        train(client, "people", dataset=dataset["id"], algorithm="decision_tree").status_code == 202
    )
    assert worker.run_one()
    features = {
        f["name"]: f for f in client.get("/api/v1/models/people/schema").get_json()["features"]
    }
    age = features["age"]["statistics"]
    assert 20 <= age["min"] <= age["median"] <= age["max"] <= 69
    assert age["count"] == 64 and age["missing"] == 0  # the 80 rows' training split
    assert features["income"]["statistics"]["missing"] > 0
    city = features["city"]["statistics"]["frequencies"]
    assert {f["value"] for f in city} == {"paris", "lyon", "nice", "lille"}
    assert city == sorted(city, key=lambda f: -f["frequency"])


def test_an_upload_with_a_sample_csv_records_statistics(client, mixed_model):
    model, frame = mixed_model
    res = upload_model(client, "mixed", sio.dumps(model), frame.to_csv(index=False).encode())
    assert res.status_code == 201, res.get_json()
    features = {f["name"]: f for f in res.get_json()["schema"]["features"]}
    assert features["age"]["statistics"]["max"] == float(frame["age"].max())
    assert features["age"]["statistics"]["median"] == float(frame["age"].median())
    assert {f["value"] for f in features["city"]["statistics"]["frequencies"]} == {
        "paris",
        "lyon",
        "nice",
    }


def test_an_upload_without_a_sample_has_no_statistics(client, mixed_model):
    res = upload_model(client, "mixed", sio.dumps(mixed_model[0]))
    assert res.status_code == 201
    assert all(f.get("statistics") is None for f in res.get_json()["schema"]["features"])


def test_a_sample_with_text_in_a_numeric_column_is_a_400(client, mixed_model):
    res = upload_model(client, "mixed", sio.dumps(mixed_model[0]), b"age,city\nold,paris\n")
    assert res.status_code == 400
    assert "sample.age" in res.get_json()["errors"]
    assert client.get("/api/v1/models/mixed").status_code == 404  # nothing registered


def test_a_sample_without_the_features_is_a_400(client, mixed_model):
    res = upload_model(client, "mixed", sio.dumps(mixed_model[0]), b"height\n3\n")
    assert res.status_code == 400
    assert "none of the model's feature columns" in res.get_json()["message"]
