"""Predictions: the hot path. The body is parsed with orjson (or pandas for CSV),
checked against the version's schema, predicted, and answered with orjson; the
model comes from the registry's in-process cache."""
from __future__ import annotations

import orjson
from flask import current_app, g, request
from flask_restx import Namespace, Resource, fields

from app.api import ERROR_MODEL
from app.core.errors import InvalidInput, UnsupportedMediaType
from app.metrics import observe_prediction

ns = Namespace("predictions", path="/models", description="Predict with a model's production "
               "or a chosen version")
ns.add_model("Error", ERROR_MODEL)

predict_request = ns.model("PredictRequest", {
    "instances": fields.List(fields.Raw, required=True, min_items=1,
                             description="Rows: objects keyed by feature name, or arrays in schema order",
                             example=[{"sepal_length": 5.1, "sepal_width": 3.5,
                                       "petal_length": 1.4, "petal_width": 0.2}]),
    "return_proba": fields.Boolean(default=False, description="Also return class probabilities"),
})
predict_answer = ns.model("PredictResponse", {
    "model": fields.String(required=True),
    "version": fields.Integer(required=True),
    "predictions": fields.List(fields.Raw, required=True),
    "probabilities": fields.List(fields.List(fields.Float), description="When asked and supported"),
    "classes": fields.List(fields.Raw, description="Class labels, in probability column order"),
})


def version_arg(req=request) -> int | None:
    if not req.query_string:  # the common case: no query string to parse
        return None
    raw = req.args.get("version")
    if raw in (None, ""):
        return None
    try:
        version = int(raw)
    except ValueError:
        raise InvalidInput(f"version must be a positive integer, got {raw[:40]!r}",
                           {"version": "not an integer"}) from None
    if version < 1:
        raise InvalidInput("version must be a positive integer", {"version": "must be >= 1"})
    return version


def _parse_json(body: bytes) -> tuple[list, bool]:
    if not body:
        raise InvalidInput("the request body is empty: send {\"instances\": [...]}", {"body": "empty"})
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}", {"body": "malformed JSON"}) from None
    if not isinstance(doc, dict):
        raise InvalidInput("the body must be a JSON object {\"instances\": [...]}", {"body": "expected an object"})
    unknown = set(doc) - {"instances", "return_proba"}
    if unknown:
        raise InvalidInput("unknown field(s): " + ", ".join(sorted(map(str, unknown))),
                           {k: "unknown field" for k in sorted(map(str, unknown))})
    if "instances" not in doc:
        raise InvalidInput("'instances' is required", {"instances": "required"})
    proba = doc.get("return_proba", False)
    if not isinstance(proba, bool):
        raise InvalidInput("'return_proba' must be true or false", {"return_proba": "expected a boolean"})
    return doc["instances"], proba


@ns.route("/<string:name>/predict")
@ns.param("name", "Model name")
@ns.param("version", "Version (default: production)", _in="query", type=int)
@ns.param("return_proba", "CSV bodies: also return probabilities", _in="query", type=bool)
class Prediction(Resource):
    @ns.doc(consumes=["application/json", "text/csv"])
    @ns.expect(predict_request, validate=False)
    @ns.response(200, "Predictions", predict_answer)
    @ns.response(400, "Invalid input: the errors name each bad field", ERROR_MODEL)
    @ns.response(404, "Unknown model or version", ERROR_MODEL)
    @ns.response(413, "Too many rows", ERROR_MODEL)
    @ns.response(415, "Send application/json or text/csv", ERROR_MODEL)
    def post(self, name):
        """Predict one row or a batch (JSON, or CSV with a header row)"""
        app, req = current_app._get_current_object(), request._get_current_object()  # looked up once
        registry = app.extensions["mlstack.registry"]
        # announced before anything else, so a batch being formed waits for our rows
        with registry.arrivals.slot() as slot:
            loaded = registry.resolve(name, version_arg(req))
            max_rows = app.config["MLSTACK"].MAX_BATCH_ROWS
            mimetype = req.mimetype
            if mimetype == "application/json" or mimetype.endswith("+json"):
                instances, proba = _parse_json(req.get_data(cache=False))
                loaded.check_proba(proba)
                matrix, n = loaded.schema.rows_to_matrix(instances, max_rows)
            elif mimetype in ("text/csv", "application/csv"):
                proba = (req.args.get("return_proba") or "").lower() in ("1", "true", "yes")
                loaded.check_proba(proba)
                matrix, n = loaded.schema.csv_to_matrix(req.get_data(cache=False), max_rows)
            else:
                raise UnsupportedMediaType(f"unsupported content type {mimetype or '(none)'!r}: "
                                           "send application/json or text/csv")
            result = slot.predict(matrix, proba, loaded.batcher)
        out = {"model": loaded.name, "version": loaded.version}
        out.update(result)
        g.prediction = (loaded.name, loaded.version, n)
        observe_prediction(loaded.name, loaded.version, n)
        return app.response_class(
            orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), mimetype="application/json")
