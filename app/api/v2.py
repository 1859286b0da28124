"""The Open Inference Protocol (V2, as spoken by KServe, MLServer and Triton) at /v2: a
Blueprint with its own flask-restx Api (Swagger UI at /v2/docs) whose errors answer
`{"error": "..."}` as the protocol says. Inference takes the same path as /api/v1:
the core's prediction service, the schema's validation, the micro-batcher."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

from flask import Blueprint, current_app, g, request
from flask_restx import Api, Namespace, Resource, fields
from werkzeug.exceptions import HTTPException, NotFound

from app.api.body_limit import limit_prediction_body, read_prediction_body
from app.api.errors import status_of
from app.api.health import models_check
from app.core import v2 as protocol
from app.core.errors import ServiceError
from app.core.tensors import encode_response, parse_infer_request
from app.services import current_services, services_of

ns = Namespace(
    "v2",
    path="/",
    description="Open Inference Protocol (V2): KServe / Triton / "
    'MLServer clients. Errors answer {"error": "..."}.',
)

error_answer = ns.model(
    "V2Error", {"error": fields.String(required=True, example="model 'x' not found")}
)
tensor = ns.model(
    "V2Tensor",
    {
        "name": fields.String(required=True, example="input-0"),
        "datatype": fields.String(
            required=True, example="FP64", description="BOOL, INT*, UINT*, FP16/32/64, BYTES"
        ),
        "shape": fields.List(fields.Integer, required=True, example=[1, 4]),
        "data": fields.Raw(description="Flat or nested, row-major", example=[5.1, 3.5, 1.4, 0.2]),
        "parameters": fields.Raw(description="binary_data_size for the binary extension"),
    },
)
infer_request = ns.model(
    "V2InferRequest",
    {
        "id": fields.String(example="req-1"),
        "parameters": fields.Raw(
            description='{"content_type": "pd"}: one input per feature', example={}
        ),
        "inputs": fields.List(
            fields.Nested(tensor),
            required=True,
            description="One [N, F] tensor, or one [N] column per feature named as the feature",
        ),
        "outputs": fields.List(
            fields.Raw,
            description="predict (default) and/or predict_proba",
            example=[{"name": "predict"}, {"name": "predict_proba"}],
        ),
    },
)
infer_answer = ns.model(
    "V2InferResponse",
    {
        "model_name": fields.String(required=True, example="iris"),
        "model_version": fields.String(required=True, example="1"),
        "id": fields.String(example="req-1"),
        "outputs": fields.List(
            fields.Raw,
            required=True,
            example=[{"name": "predict", "datatype": "INT64", "shape": [1], "data": [0]}],
        ),
    },
)
model_metadata = ns.model(
    "V2ModelMetadata",
    {
        "name": fields.String(required=True),
        "versions": fields.List(fields.String),
        "platform": fields.String(required=True, example="sklearn"),
        "inputs": fields.List(
            fields.Raw,
            required=True,
            example=[{"name": "sepal_length", "datatype": "FP64", "shape": [-1]}],
        ),
        "outputs": fields.List(fields.Raw, required=True),
        "parameters": fields.Raw(),
    },
)


def create_v2_blueprint() -> Blueprint:
    bp = Blueprint("v2", __name__, url_prefix="/v2")
    api = Api(
        bp,
        version="2",
        title="mlstack: Open Inference Protocol (V2)",
        doc="/docs",
        description="KServe / Triton / MLServer compatible inference. Binary tensor "
        "extension for inputs and outputs.",
    )
    api.add_namespace(ns)

    # flask-restx answers with `exc.data` when set; it adds a "message" to the returned dict
    @api.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        body = {"error": _with_fields(exc)}
        exc.data = body  # type: ignore[attr-defined]  # read by flask-restx, see above
        return dict(body), status_of(exc)

    @api.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        body = {"error": exc.description or exc.name}
        exc.data = body  # type: ignore[attr-defined]  # read by flask-restx, see above
        return dict(body), exc.code or 500

    @api.errorhandler(Exception)
    def _unexpected(exc: Exception):
        exc.data = {"error": "internal error"}  # type: ignore[attr-defined]
        return dict(exc.data), 500  # type: ignore[attr-defined]

    return bp


V2_REPORTED_FIELDS = 3


def _with_fields(exc: ServiceError) -> str:
    """The message with the first bad values the schema named: V2's error body is one
    string, where /api/v1's carries every field in `errors`. Rows are numbered as the
    schema numbers them (instances[i]: the tensor's row i); the protocol's own errors
    say all in their message."""
    rows = [(key, problem) for key, problem in exc.errors.items() if key.startswith("instances[")]
    if not rows:
        return exc.message
    shown = rows[:V2_REPORTED_FIELDS]
    more = len(rows) - len(shown)
    fields_text = "; ".join(f"{key}: {problem}" for key, problem in shown)
    return f"{exc.message} ({fields_text}{f'; {more} more' if more > 0 else ''})"


def _server_version() -> str:
    try:
        return package_version("mlstack")
    except PackageNotFoundError:
        return "unknown"


@ns.route("", "/")
class ServerMetadata(Resource):
    @ns.response(200, "Server metadata")
    def get(self):
        """Server metadata: name, version, protocol extensions"""
        return {
            "name": "mlstack",
            "version": _server_version(),
            "extensions": ["binary_tensor_data"],
        }


@ns.route("/health/live")
class Live(Resource):
    @ns.response(200, "Live", ns.model("V2Live", {"live": fields.Boolean(example=True)}))
    def get(self):
        """Liveness: the process answers"""
        return {"live": True}


@ns.route("/health/ready")
class Ready(Resource):
    @ns.response(200, "Ready", ns.model("V2Ready", {"ready": fields.Boolean(example=True)}))
    @ns.response(503, "The database or every production model is unavailable", error_answer)
    def get(self):
        """Readiness: the database answers and a production model loads (as /api/v1/health/ready)"""
        services = current_services()
        services.db.ping()  # DatabaseUnavailable: 503
        problem = models_check(services.registry)
        if problem != "ok":
            return {"error": problem}, 503
        return {"ready": True}


def _versions(name: str) -> list[int]:
    return sorted(v["version"] for v in current_services().registry.get_model(name)["versions"])


@ns.route("/models/<string:name>", "/models/<string:name>/versions/<int:version>")
@ns.response(404, "Unknown model or version", error_answer)
class ModelMetadata(Resource):
    @ns.response(200, "Model metadata", model_metadata)
    def get(self, name, version=None):
        """Model metadata: inputs (one per feature), outputs predict / predict_proba with the class order"""
        model = current_services().registry.resolve(name, version)
        return protocol.model_metadata(model, _versions(name))


@ns.route("/models/<string:name>/ready", "/models/<string:name>/versions/<int:version>/ready")
@ns.response(404, "Unknown model or version", error_answer)
class ModelReady(Resource):
    @ns.response(
        200,
        "The version loads",
        ns.model(
            "V2ModelReady",
            {"name": fields.String(example="iris"), "ready": fields.Boolean(example=True)},
        ),
    )
    @ns.response(503, "The version's artifact cannot be loaded", error_answer)
    def get(self, name, version=None):
        """Model readiness: the version (default production) loads"""
        current_services().registry.resolve(name, version)
        return {"name": name, "ready": True}


@ns.route("/models/<string:name>/infer", "/models/<string:name>/versions/<int:version>/infer")
@ns.response(404, "Unknown model or version", error_answer)
class Infer(Resource):
    @ns.doc(consumes=["application/json", "application/octet-stream"])
    @ns.expect(infer_request, validate=False)
    @ns.response(200, "Outputs", infer_answer)
    @ns.response(
        400, "Bad body, shape, datatype, unknown output, predict_proba on a regressor", error_answer
    )
    @ns.response(413, "Too many rows or too large a body", error_answer)
    @ns.response(503, "The model cannot be loaded or the database is down", error_answer)
    def post(self, name, version=None):
        """Infer with the production version (or the one in the URL). JSON or binary tensors."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # looked up once
        req = request._get_current_object()  # type: ignore[attr-defined]
        services = services_of(app)
        limit_prediction_body(req, services.config.MAX_PREDICT_BYTES)
        with services.predictions.begin(name, version) as prediction:
            model = prediction.model
            parsed = parse_infer_request(
                read_prediction_body(req), req.headers.get("Inference-Header-Content-Length")
            )
            want = protocol.wanted_outputs(parsed, model)
            matrix, n = protocol.request_matrix(parsed, model.schema, prediction.max_rows)
            out = prediction.run(matrix, want[1])
        g.prediction = (model.name, model.version, n)
        answer = protocol.infer_response(parsed, model, out, want)
        binary = {o["name"] for o in answer["outputs"] if parsed.wants_binary(o["name"])}
        data, header_length = encode_response(answer, binary)
        if header_length is None:
            return app.response_class(data, mimetype="application/json")
        response = app.response_class(data, mimetype="application/octet-stream")
        response.headers["Inference-Header-Content-Length"] = str(header_length)
        return response


@ns.route("/<path:rest>", doc=False)
class Unmatched(Resource):
    """Unknown /v2 paths answer in the protocol's error shape, not the app's."""

    def get(self, rest):
        raise NotFound(f"no V2 endpoint at /v2/{rest}")

    post = put = delete = patch = get
