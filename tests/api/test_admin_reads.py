"""Training data is an admin read (SQLite and PostgreSQL): an uploaded dataset's sample
rows and a job's spec are answered with the admin token and left out without it; a
wrong token is a 403; the model schema keeps its categories for every client."""

from __future__ import annotations

from tests.api.test_training import people_csv, train, upload
from tests.conftest import AUTH

WRONG = {"Authorization": "Bearer not-the-token"}


def test_an_uploaded_datasets_rows_are_shown_to_admins_only(client):
    ds = upload(client, people_csv()).get_json()
    assert len(ds["sample"]) == 5  # the uploader is an admin
    anonymous = client.get(f"/api/v1/datasets/{ds['id']}")
    assert anonymous.status_code == 200
    body = anonymous.get_json()
    assert "sample" not in body and body["n_rows"] == 80 and body["columns"]
    assert "paris" not in anonymous.get_data(as_text=True)  # no cell of the data leaks
    admin = client.get(f"/api/v1/datasets/{ds['id']}", headers=AUTH).get_json()
    assert len(admin["sample"]) == 5
    assert client.get(f"/api/v1/datasets/{ds['id']}", headers=WRONG).status_code == 403
    listed = client.get("/api/v1/datasets").get_json()
    assert all("sample" not in d for d in listed)


def test_bundled_datasets_keep_their_public_sample(client):
    assert len(client.get("/api/v1/datasets/iris").get_json()["sample"]) == 5


def test_a_jobs_spec_is_shown_to_admins_only(client):
    ds = upload(client, people_csv()).get_json()
    queued = train(client, "people", dataset=ds["id"], features=["age", "city"]).get_json()
    assert queued["spec"]["features"] == ["age", "city"]  # the admin who queued it sees it
    one = client.get(f"/api/v1/jobs/{queued['id']}").get_json()
    assert "spec" not in one and one["algorithm"] == "random_forest" and one["status"] == "queued"
    listed = client.get("/api/v1/jobs").get_json()
    assert [("spec" in j, j["algorithm"]) for j in listed] == [(False, "random_forest")]
    admin = client.get(f"/api/v1/jobs/{queued['id']}", headers=AUTH).get_json()
    assert admin["spec"]["target"] == "label"
    assert client.get("/api/v1/jobs", headers=AUTH).get_json()[0]["spec"]["features"]
    assert client.get(f"/api/v1/jobs/{queued['id']}", headers=WRONG).status_code == 403
    assert client.get("/api/v1/jobs", headers=WRONG).status_code == 403


def test_the_model_schema_keeps_its_categories_for_every_client(client, registry):
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame({"city": ["paris", "lyon", "nice", "paris"], "y": [0, 1, 1, 0]})
    model = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["city"])),
        LogisticRegression(),
    ).fit(frame[["city"]], frame["y"])
    registry.add_estimator("cities", model)
    schema = client.get("/api/v1/models/cities/schema").get_json()
    (city,) = schema["features"]
    assert sorted(city["categories"]) == ["lyon", "nice", "paris"]
