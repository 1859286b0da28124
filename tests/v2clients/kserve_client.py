"""The kserve SDK's `InferenceRESTClient` (protocol v2) used as its documentation shows,
run by tests/integration/test_v2_clients.py with the python of .venv-kserve (kserve
needs pandas<3, mlstack runs on pandas 3: they cannot share a virtualenv).

    python kserve_client.py BASE_URL MODEL ROWS.json

ROWS.json is a list of rows (floats). Prints one JSON document with what the client
answered: health, model readiness, the outputs of binary and JSON requests, and the
message of the client's exception for an unknown model. The test asserts on it."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput


def request(model: str, x: np.ndarray, binary: bool, request_id: str) -> InferRequest:
    inp = InferInput(name="input-0", shape=list(x.shape), datatype="FP64")
    inp.set_data_from_numpy(x, binary_data=binary)
    outputs = [
        RequestedOutput("predict", parameters={"binary_data": binary}),
        RequestedOutput("predict_proba", parameters={"binary_data": binary}),
    ]
    return InferRequest(
        model_name=model, infer_inputs=[inp], request_id=request_id, request_outputs=outputs
    )


def outputs_of(response: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "id": response.id,
        "model_name": response.model_name,
        "outputs": {o.name: o.as_numpy().tolist() for o in response.outputs},
        "datatypes": {o.name: o.datatype for o in response.outputs},
        # the client decodes binary outputs into `data`: the header says they were binary
        "binary_body": "inference-header-content-length" in headers,
    }


async def run(base: str, model: str, x: np.ndarray) -> dict[str, Any]:
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        result: dict[str, Any] = {
            "live": await client.is_server_live(base),
            "ready": await client.is_server_ready(base),
            "model_ready": await client.is_model_ready(base, model),
            "unknown_model_ready": await client.is_model_ready(base, "no-such-model"),
        }
        for binary in (True, False):
            key = "binary" if binary else "json"
            headers: dict[str, str] = {}
            response = await client.infer(
                base,
                request(model, x, binary, f"kserve-{key}"),
                model_name=model,
                response_headers=headers,
            )
            result[key] = outputs_of(response, headers)
        # the default output alone: a plain JSON request without requested outputs
        plain = InferInput(name="x", shape=list(x.shape), datatype="FP64")
        plain.set_data_from_numpy(x, binary_data=False)
        headers = {}
        response = await client.infer(
            base, InferRequest(model, [plain]), model_name=model, response_headers=headers
        )
        result["default"] = outputs_of(response, headers)
        try:
            await client.infer(base, request("no-such-model", x, True, "r"), "no-such-model")
            result["unknown_model_error"] = None
        except httpx.HTTPStatusError as exc:
            result["unknown_model_error"] = {
                "status": exc.response.status_code,
                "message": str(exc),
            }
        return result
    finally:
        await client.close()


def main() -> None:
    base, model, rows_path = sys.argv[1:4]
    with open(rows_path) as f:
        x = np.array(json.load(f), dtype=np.float64)
    print(json.dumps(asyncio.run(run(base, model, x))))


if __name__ == "__main__":
    main()
