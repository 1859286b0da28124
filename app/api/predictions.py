"""Predictions: the hot path. The body is parsed with orjson (or pandas for CSV) and
checked against the version's schema; the core's prediction service resolves the
version, batches and counts; the answer is written with orjson."""

from __future__ import annotations

import numpy as np
import orjson
from flask import current_app, g, request
from flask_restx import Namespace, Resource, fields

from app.api.body_limit import limit_prediction_body, read_prediction_body
from app.api.errors import ERROR_MODEL, UnsupportedMediaType
from app.api.params import bool_value, version_arg
from app.core.errors import InvalidInput
from app.core.jsonbody import json_object, only_keys_are_strings
from app.core.jsonrows import PAYS_FROM_BYTES, PREDICT_BODY_KEYS, numeric_rows
from app.core.runtime import LoadedModel
from app.services import services_of

ns = Namespace(
    "predictions",
    path="/models",
    description="Predict with a model's production or a chosen version",
)
ns.add_model("Error", ERROR_MODEL)

predict_request = ns.model(
    "PredictRequest",
    {
        "instances": fields.List(
            fields.Raw,
            required=True,
            min_items=1,
            description="Rows: objects keyed by feature name, or arrays in schema order",
            example=[
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ],
        ),
        "return_proba": fields.Boolean(
            default=False, description="Also return class probabilities"
        ),
    },
)
predict_answer = ns.model(
    "PredictResponse",
    {
        "model": fields.String(required=True),
        "version": fields.Integer(required=True),
        "predictions": fields.List(fields.Raw, required=True),
        "probabilities": fields.List(
            fields.List(fields.Float), description="When asked and supported"
        ),
        "classes": fields.List(fields.Raw, description="Class labels, in probability column order"),
    },
)


def _parse_json(body: bytes) -> tuple[list, bool, bool]:
    """The rows, whether probabilities are asked, and whether the rows are proven to
    hold no string (the body's only strings are its keys)."""
    doc = json_object(body, "instances")
    unknown = set(doc) - PREDICT_BODY_KEYS
    if unknown:
        raise InvalidInput(
            "unknown field(s): " + ", ".join(sorted(map(str, unknown))),
            {k: "unknown field" for k in sorted(map(str, unknown))},
        )
    if "instances" not in doc:
        raise InvalidInput("'instances' is required", {"instances": "required"})
    proba = doc.get("return_proba", False)
    if not isinstance(proba, bool):
        raise InvalidInput(
            "'return_proba' must be true or false", {"return_proba": "expected a boolean"}
        )
    return doc["instances"], proba, only_keys_are_strings(body, doc)


def _json_matrix(body: bytes, model: LoadedModel, max_rows: int) -> tuple[np.ndarray, int, bool]:
    """The rows as the model's matrix, their count, and whether probabilities are asked:
    array rows of numbers straight from the body when it is beyond doubt, the parsed
    document checked against the schema otherwise (which explains what is wrong)."""
    schema = model.schema
    numeric = None
    if schema.all_numeric and len(body) >= PAYS_FROM_BYTES:
        numeric = numeric_rows(body, len(schema.names), max_rows)
    if numeric is not None:
        matrix, proba = numeric
        model.check_proba(proba)
        return matrix, len(matrix), proba
    instances, proba, no_strings = _parse_json(body)
    model.check_proba(proba)
    matrix, n = schema.rows_to_matrix(instances, max_rows, no_strings=no_strings)
    return matrix, n, proba


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
    @ns.response(413, "Too many rows, or a body over MAX_PREDICT_MB", ERROR_MODEL)
    @ns.response(415, "Send application/json or text/csv", ERROR_MODEL)
    def post(self, name):
        """Predict one row or a batch (JSON, or CSV with a header row)"""
        # the objects behind the proxies, looked up once (LocalProxy methods: untyped)
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        req = request._get_current_object()  # type: ignore[attr-defined]
        services = services_of(app)
        limit_prediction_body(req, services.config.MAX_PREDICT_BYTES)
        with services.predictions.begin(name, version_arg(req)) as prediction:
            model = prediction.model
            mimetype = req.mimetype
            if mimetype == "application/json" or mimetype.endswith("+json"):
                matrix, n, proba = _json_matrix(
                    read_prediction_body(req), model, prediction.max_rows
                )
            elif mimetype in ("text/csv", "application/csv"):
                proba = bool_value("return_proba", req.args.get("return_proba"))
                model.check_proba(proba)
                matrix, n = model.schema.csv_to_matrix(
                    read_prediction_body(req), prediction.max_rows
                )
            else:
                raise UnsupportedMediaType(
                    f"unsupported content type {mimetype or '(none)'!r}: "
                    "send application/json or text/csv"
                )
            out = prediction.run(matrix, proba)
        g.prediction = (model.name, model.version, n)
        return app.response_class(
            orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY), mimetype="application/json"
        )
