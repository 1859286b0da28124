"""The Open Inference Protocol (V2) through nginx on 5001 with the clients teams use,
as their documentation shows: NVIDIA's `tritonclient[http]` and the kserve SDK's
`InferenceRESTClient` (protocol v2, from its own virtualenv). Health, metadata, binary
and JSON inputs, predict_proba, and each client's exception for an unknown model."""

from __future__ import annotations

import io
import json
import subprocess
import uuid

import numpy as np
import pytest

from tests.conftest import need_binary
from tests.integration.conftest import AUTH, NGINX_PORT, ROOT, eventually

pytestmark = pytest.mark.integration
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def uploaded(stack):
    """An iris classifier fitted here, uploaded and promoted: the in-process reference."""
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    est = LogisticRegression(max_iter=500).fit(X, y)
    buf = io.BytesIO()
    sio.dump(est, buf)
    name = f"it-v2-{uuid.uuid4().hex[:8]}"
    schema = json.dumps({"features": [{"name": f, "type": "numeric"} for f in FEATURES]})
    r = stack.post(
        f"/api/v1/models/{name}/versions",
        headers=AUTH,
        data={"schema": schema, "promote": "true"},
        files={"file": ("model.skops", buf.getvalue(), "application/octet-stream")},
    )
    assert r.status_code == 201, r.text

    def served_by_all():  # each gunicorn worker's registry cache learns of it within 2 s
        for _ in range(6):
            assert stack.get(f"/v2/models/{name}/ready").status_code == 200

    eventually(served_by_all)
    return name, est, X


@pytest.fixture
def triton():
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{NGINX_PORT}")
    yield client
    client.close()


def test_triton_health_and_metadata(running, uploaded, triton):
    name, est, _ = uploaded
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready(name) and not triton.is_model_ready("no-such-model")
    assert triton.get_server_metadata()["name"] == "mlstack"
    meta = triton.get_model_metadata(name)
    assert meta["versions"] == ["1"] and [i["name"] for i in meta["inputs"]] == FEATURES
    proba = meta["outputs"][1]
    assert (
        proba["name"] == "predict_proba"
        and json.loads(proba["parameters"]["classes"]) == est.classes_.tolist()
    )


@pytest.mark.parametrize("binary", [True, False])
def test_triton_infer_equals_the_model_in_process(running, uploaded, triton, binary):
    import tritonclient.http as httpclient

    name, est, X = uploaded
    x = X[:20].astype(np.float32)
    inp = httpclient.InferInput("input-0", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = [
        httpclient.InferRequestedOutput("predict", binary_data=binary),
        httpclient.InferRequestedOutput("predict_proba", binary_data=binary),
    ]
    result = triton.infer(name, [inp], outputs=outputs, request_id="req-7")
    assert result.get_response()["id"] == "req-7"
    assert result.get_response()["model_version"] == "1"
    sent_binary = [
        "binary_data_size" in o.get("parameters", {}) for o in result.get_response()["outputs"]
    ]
    assert sent_binary == [binary, binary]
    np.testing.assert_array_equal(result.as_numpy("predict"), est.predict(x))
    np.testing.assert_allclose(result.as_numpy("predict_proba"), est.predict_proba(x), rtol=1e-6)
    # the default output, with a version in the URL
    result = triton.infer(name, [inp], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("predict"), est.predict(x))
    assert result.as_numpy("predict_proba") is None


def test_triton_errors_carry_our_message(running, uploaded, triton):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    inp = httpclient.InferInput("x", [1, 4], "FP64")
    inp.set_data_from_numpy(np.zeros((1, 4)))
    with pytest.raises(InferenceServerException, match="model 'no-such-model' not found"):
        triton.infer("no-such-model", [inp])
    bad = httpclient.InferInput("x", [1, 3], "FP64")
    bad.set_data_from_numpy(np.zeros((1, 3)))
    with pytest.raises(InferenceServerException, match=r"not \[N, 4\]"):
        triton.infer(uploaded[0], [bad])


def test_v2_json_through_nginx_without_a_client_library(running):
    """The demo iris model, one [1, F] JSON tensor: the shape the bench sends."""
    r = running.post(
        "/v2/models/iris/infer",
        json={
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [1] and r.json()["model_name"] == "iris"
    r = running.get("/v2/nothing")
    assert r.status_code == 404 and set(r.json()) == {"error"}


# The kserve SDK lives in its own virtualenv (`make kserve-venv`; kserve needs pandas<3):
# tests/v2clients/kserve_client.py runs there and prints what the client answered.
KSERVE_PYTHON = ROOT / ".venv-kserve" / "bin" / "python"
KSERVE_SCRIPT = ROOT / "tests" / "v2clients" / "kserve_client.py"


@pytest.fixture(scope="module")
def kserve_answers(stack, uploaded, tmp_path_factory):
    if not KSERVE_PYTHON.exists():
        need_binary("the kserve SDK's virtualenv (make kserve-venv)")
    name, _, X = uploaded
    rows = tmp_path_factory.mktemp("kserve") / "rows.json"
    rows.write_text(json.dumps(X[::7].tolist()))
    proc = subprocess.run(
        [str(KSERVE_PYTHON), str(KSERVE_SCRIPT), f"http://127.0.0.1:{NGINX_PORT}", name, str(rows)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_kserve_health_and_model_ready(running, kserve_answers):
    assert kserve_answers["live"] is True and kserve_answers["ready"] is True
    assert kserve_answers["model_ready"] is True
    assert kserve_answers["unknown_model_ready"] is False


@pytest.mark.parametrize("encoding", ["binary", "json"])
def test_kserve_infer_equals_the_model_in_process(running, uploaded, kserve_answers, encoding):
    name, est, X = uploaded
    x = X[::7]
    answer = kserve_answers[encoding]
    assert answer["id"] == f"kserve-{encoding}" and answer["model_name"] == name
    # binary outputs were asked for in the binary request, JSON ones in the other
    assert answer["binary_body"] is (encoding == "binary")
    assert answer["datatypes"] == {"predict": "INT64", "predict_proba": "FP64"}
    np.testing.assert_array_equal(answer["outputs"]["predict"], est.predict(x))
    np.testing.assert_array_equal(answer["outputs"]["predict_proba"], est.predict_proba(x))


def test_kserve_default_output_and_unknown_model(running, uploaded, kserve_answers):
    _, est, X = uploaded
    default = kserve_answers["default"]
    assert list(default["outputs"]) == ["predict"] and default["binary_body"] is False
    np.testing.assert_array_equal(default["outputs"]["predict"], est.predict(X[::7]))
    error = kserve_answers["unknown_model_error"]
    assert error is not None and error["status"] == 404
    assert "model 'no-such-model' not found" in error["message"]
