"""The plain-Flask reference for batches: the benchmark models (fitted as
bench/scenarios.py fits them) behind one Flask route that decodes the body with orjson
and calls scikit-learn's `predict`, with no validation, logging, metrics or batching.
Issue 13 holds mlstack's batches to at least this, under the same gunicorn and nginx."""

import numpy as np
import orjson
from flask import Flask, Response, request

from bench.scenarios import build_scenarios

app = Flask(__name__)
MODELS = {s.name: s.estimator for s in build_scenarios().values()}


@app.post("/api/v1/models/<name>/predict")
def predict(name: str) -> Response:
    doc = orjson.loads(request.get_data())
    labels = MODELS[name].predict(np.asarray(doc["instances"], dtype=np.float64))
    return Response(orjson.dumps({"predictions": labels.tolist()}), mimetype="application/json")
