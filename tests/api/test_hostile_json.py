"""Hostile JSON and out-of-range numbers on every endpoint (SQLite and PostgreSQL):
a 4xx with a JSON body saying what is wrong, never a 500."""

import re

import pytest

from app.core.jsonbody import MAX_DEPTH
from tests.conftest import AUTH

JSON = {"Content-Type": "application/json"}
HUGE = "99999999999999999999"  # beyond int64 and uint64


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def concrete(rule) -> str:
    """A rule's path with every variable filled: a known model where a name goes."""
    path = re.sub(r"<(?:string:)?name>", "iris", rule.rule)
    path = re.sub(r"<int:\w+>", "1", path)
    path = re.sub(r"<path:\w+>", "x", path)
    return re.sub(r"<(?:string:)?\w+>", "1", path)


def post_routes(app):
    paths = {concrete(r) for r in app.url_map.iter_rules() if "POST" in r.methods}
    assert len(paths) >= 8
    return sorted(paths)


DEEP_BODIES = {
    "beyond-the-parser": nested(100_000),
    "within-the-parser": '{"instances": ' + nested(900) + ', "inputs": ' + nested(900) + "}",
    "deep-field": '{"dataset": "iris", "params": {"a": ' + nested(MAX_DEPTH + 5) + "}}",
}


@pytest.mark.parametrize("headers", [AUTH, {}], ids=["token", "anonymous"])
@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
def test_deeply_nested_json_never_gets_a_5xx_on_any_post_endpoint(app, client, iris, body, headers):
    refused = set()
    for path in post_routes(app):
        res = client.post(path, data=body, headers={**headers, **JSON})
        assert res.status_code < 500, (path, res.status_code, res.data[:200])
        assert res.is_json, path
        if res.status_code >= 400:
            assert res.json.get("message") or res.json.get("error"), path
            refused.add(path)
    # the endpoints that read a JSON body refuse it (or the anonymous caller)
    assert {"/api/v1/models/iris/predict", "/v2/models/iris/infer", "/api/v1/bundles"} <= refused


def test_a_deep_training_spec_names_the_depth_limit(client):
    body = '{"dataset": "iris", "params": {"a": ' + nested(MAX_DEPTH + 5) + "}}"
    res = client.post("/api/v1/models/m/train", data=body, headers={**AUTH, **JSON})
    assert res.status_code == 400
    assert res.json["message"] == f"the JSON body is nested deeper than {MAX_DEPTH} levels"


def test_a_deeply_nested_feature_value_is_named_in_the_errors(client, iris):
    body = '{"instances": [[' + nested(950) + ", 1, 1, 1]]}"
    res = client.post("/api/v1/models/iris/predict", data=body, headers=JSON)
    assert res.status_code == 400
    assert res.json["errors"]["instances[0].sepal_length"].startswith("expected a number")


def test_a_number_sent_as_a_string_in_a_batch_is_a_400(client, iris):
    # a batch large enough for the string-free reading (app.core.schema.FROMITER_MIN_ROWS)
    rows = [[5.1, 3.5, 1.4, 0.2]] * 20 + [[5.1, 3.5, "1.4", 0.2]]
    res = client.post("/api/v1/models/iris/predict", json={"instances": rows})
    assert res.status_code == 400
    assert res.json["errors"]["instances[20].petal_length"].startswith("expected a number")


def test_deeply_nested_v2_tensor_data_is_a_400(client, iris):
    tensor = '{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ' + nested(1000) + "}"
    res = client.post("/v2/models/iris/infer", data='{"inputs": [' + tensor + "]}", headers=JSON)
    assert res.status_code == 400
    assert "shape holds 4 values" in res.json["error"]


def test_a_deep_schema_field_in_an_upload_is_a_400(client, iris_models):
    import skops.io as sio

    from tests.api.test_models import upload

    res = upload(client, "deep", sio.dumps(iris_models["tree"]), schema=nested(200))
    assert res.status_code == 400
    assert "schema" in res.json["message"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", f"/api/v1/models/iris/versions/{HUGE}"),
        ("post", f"/api/v1/models/iris/versions/{HUGE}/promote"),
        ("get", f"/api/v1/models/iris/schema?version={HUGE}"),
        ("post", f"/api/v1/models/iris/predict?version={HUGE}"),
        ("get", f"/api/v1/jobs/{HUGE}"),
        ("get", f"/api/v1/jobs/{2**63}"),
        ("get", f"/api/v1/jobs/{2**31}"),
        ("post", f"/api/v1/jobs/{HUGE}/cancel"),
        ("get", f"/api/v1/datasets/{HUGE}"),
        ("get", f"/v2/models/iris/versions/{HUGE}"),
        ("post", f"/v2/models/iris/versions/{HUGE}/infer"),
        ("get", f"/api/v1/bundles/{HUGE}"),
    ],
)
def test_ids_and_versions_beyond_int64_in_paths_and_queries_are_404(client, iris, method, path):
    res = getattr(client, method)(path, headers=AUTH, json={"instances": [[1, 2, 3, 4]]})
    assert res.status_code == 404, res.data[:200]
    assert res.is_json


@pytest.mark.parametrize("query", [f"limit={HUGE}", f"offset={HUGE}", "limit=-1", "limit=1e3"])
def test_paging_numbers_out_of_range_are_400(client, query):
    res = client.get(f"/api/v1/jobs?{query}", headers=AUTH)
    assert res.status_code == 400
    assert res.json["errors"]


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"instances": [[1e999, 1, 1, 1]]}', "malformed JSON: number is infinity"),
        ('{"instances": [[NaN, 1, 1, 1]]}', "malformed JSON"),
        ('{"instances": [[Infinity, 1, 1, 1]]}', "malformed JSON"),
    ],
)
def test_numbers_beyond_float64_in_a_prediction_body_are_400(client, iris, body, message):
    res = client.post("/api/v1/models/iris/predict", data=body, headers=JSON)
    assert res.status_code == 400
    assert res.json["message"].startswith(message)


@pytest.mark.parametrize("number", [str(2**63), str(2**64 - 1)])
def test_integers_beyond_int64_in_a_training_spec_are_400(client, number):
    body = '{"dataset": "iris", "params": {"random_state": ' + number + "}}"
    res = client.post("/api/v1/models/m/train", data=body, headers={**AUTH, **JSON})
    assert res.status_code == 400
    assert res.json["message"] == f"the number {number} is beyond the 64-bit integer range"


@pytest.mark.parametrize("number", [str(-(2**63) - 1), HUGE])
def test_integers_beyond_uint64_reach_the_spec_as_floats_and_are_refused_there(client, number):
    # orjson reads integers beyond 64 bits as floats: an integer parameter refuses them
    body = '{"dataset": "iris", "params": {"random_state": ' + number + "}}"
    res = client.post("/api/v1/models/m/train", data=body, headers={**AUTH, **JSON})
    assert res.status_code == 400
    assert "random_state" in res.json["message"]


@pytest.mark.parametrize("raw", [" 1", "1 ", "+1", "1_0", "%D9%A3", "1.0", "0x1", "1" * 40])
def test_query_integers_are_plain_ascii_digits(client, iris, raw):
    res = client.get(f"/api/v1/models/iris/schema?version={raw}")
    assert res.status_code == 400, raw
    assert res.json["errors"] == {"version": "not an integer"}
    res = client.get(f"/api/v1/jobs?limit={raw}", headers=AUTH)
    assert res.status_code == 400
    assert res.json["errors"] == {"limit": "not an integer"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/iris/versions/%D9%A1",  # ARABIC-INDIC DIGIT ONE: int() reads 1
        "/v2/models/iris/versions/%D9%A1",
        "/api/v1/jobs/%EF%BC%91",  # FULLWIDTH DIGIT ONE
    ],
)
def test_path_integers_are_ascii_digits(client, iris, path):
    assert client.get(path.replace("%D9%A1", "1").replace("%EF%BC%91", "1")).status_code in (
        200,
        404,
    )
    res = client.get(path, headers=AUTH)
    assert res.status_code == 404
    assert res.is_json
    assert "version" not in res.json  # not served as version 1
