"""The HTTP layer: a Blueprint at /api/v1 carrying the flask-restx Api (Swagger UI at
/api/v1/docs) and its error handlers; each namespace module parses, calls the core and
answers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask_restx import Api
from werkzeug.exceptions import HTTPException

from app.api.errors import ERROR_MODEL, error_body, status_of
from app.core.errors import ServiceError

AUTHORIZATIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Admin token: `Bearer <API_TOKEN>`",
    }
}


def create_api_blueprint(swagger: bool = True, training: bool = True) -> Blueprint:
    """The API; `swagger` off drops /docs and swagger.json, `training` off the datasets,
    training, jobs and algorithms namespaces (deployment bundles switch them off)."""
    bp = Blueprint("api", __name__, url_prefix="/api/v1")
    api = Api(
        version="1.0",
        title="mlstack",
        description="Serve, version and train scikit-learn models. Admin operations need "
        "the bearer token (Authorize button).",
        doc="/docs" if swagger else False,
        authorizations=AUTHORIZATIONS,
        validate=True,
    )
    # bound here: Api(bp, add_specs=...) loses add_specs (its init_app resets it)
    api.init_app(bp, add_specs=swagger)
    api.models["Error"] = ERROR_MODEL
    register_error_handlers(api)
    from app.api.auth import require_token_first

    bp.before_request(require_token_first)  # before flask-restx reads any body

    from app.api import bundles, datasets, health, jobs, models, predictions

    training_ns = [jobs.train_ns, jobs.ns, datasets.ns, jobs.algo_ns] if training else []
    for ns in (models.ns, predictions.ns, *training_ns, health.ns, bundles.ns):
        api.add_namespace(ns)
    return bp


def register_error_handlers(api: Api) -> None:
    @api.errorhandler(ServiceError)
    def _service_error(exc: ServiceError) -> tuple[dict[str, Any], int]:
        return error_body(exc.message, exc.errors), status_of(exc)

    @api.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[dict[str, Any], int]:
        data = getattr(exc, "data", None) or {}
        message = data.get("message") or exc.description or exc.name
        body = error_body(str(message), data.get("errors"))
        if getattr(exc, "data", None) is not None:
            # flask-restx answers with exc.data over the handler's result
            exc.data = body  # type: ignore[attr-defined]  # set by flask-restx's abort()
        return body, exc.code or 500

    @api.errorhandler(Exception)
    # flask-restx logs it (Flask.log_exception)
    def _unexpected(exc: Exception) -> tuple[dict[str, Any], int]:
        return error_body("internal error"), 500
