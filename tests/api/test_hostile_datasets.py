"""Dataset CSVs where `csv` and pandas could disagree about quotes, spaces and row
lengths, and dataset ids with a suffix (SQLite and PostgreSQL)."""

import pytest

from tests.api.test_training import upload


def test_a_quoted_header_name_with_a_comma_after_a_space_is_one_column(client):
    res = upload(client, b'a, "b,c",label\n1, "x,y",0\n2,"z",1\n3, w ,0\n')
    assert res.status_code == 201, res.json
    assert [c["name"] for c in res.json["columns"]] == ["a", "b,c", "label"]


def test_text_cells_are_stripped_as_prediction_csv_cells_are(client):
    res = upload(client, b'a,city,label\n1, paris ,0\n2,lyon ,1\n3," paris",0\n')
    assert res.status_code == 201, res.json
    city = next(c for c in res.json["columns"] if c["name"] == "city")
    assert city["n_unique"] == 2


@pytest.mark.parametrize(
    "body, line",
    [
        (b"a,label\n1,0,9\n2,1,9\n", "line 2: 3 fields"),  # pandas would take 'a' as the index
        (b"a,b,label\n1,2,0\n3\n", "line 3: 1 fields"),  # pandas would fill NaN
    ],
    ids=["long-rows", "short-row"],
)
def test_rows_with_another_field_count_than_the_header_are_400(client, body, line):
    res = upload(client, body)
    assert res.status_code == 400
    assert line in res.json["message"]


@pytest.mark.parametrize("suffix", ["%0A", "%0D%0A", "%20", "x"])
def test_a_dataset_id_with_a_suffix_is_404(client, suffix):
    ds = upload(client, b"a,label\n1,0\n2,1\n3,0\n").json
    assert client.get(f"/api/v1/datasets/{ds['id']}").status_code == 200
    res = client.get(f"/api/v1/datasets/{ds['id']}{suffix}")
    assert res.status_code == 404
    assert res.json["message"].startswith("dataset")


def test_a_model_name_with_a_trailing_newline_is_400_on_every_model_route(client, iris):
    for path in ["/api/v1/models/iris%0A", "/api/v1/models/iris%0A/schema"]:
        res = client.get(path)
        assert res.status_code == 400, path
        assert "invalid model name" in res.json["message"]
    res = client.post("/api/v1/models/iris%0A/predict", json={"instances": [[1, 2, 3, 4]]})
    assert res.status_code == 400
