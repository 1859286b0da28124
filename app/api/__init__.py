"""The HTTP layer: a Blueprint at /api/v1 carrying the flask-restx Api (Swagger UI at
/api/v1/docs), the error mapping and the admin-token check."""
from __future__ import annotations

import hmac
import logging
from functools import wraps

from flask import Blueprint, current_app, request
from flask_restx import Api, Model, fields
from werkzeug.exceptions import HTTPException

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.core.errors import Forbidden, ServiceError, Unauthorized
from app.logs import request_id

log = logging.getLogger(__name__)

# The database (not the request) is the problem: 503, and no traceback in the log.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)

ERROR_MODEL = Model("Error", {
    "message": fields.String(required=True, description="What went wrong"),
    "request_id": fields.String(required=True, description="Echoed in the X-Request-ID header"),
    "errors": fields.Raw(description="Field -> problem, for validation failures"),
})

AUTHORIZATIONS = {
    "bearer": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Admin token: `Bearer <API_TOKEN>`",
    }
}


def error_body(message: str, errors: dict | None = None) -> dict:
    body = {"message": message, "request_id": request_id()}
    if errors:
        body["errors"] = errors
    return body


def admin_required(func):
    """Admin operations take `Authorization: Bearer <API_TOKEN>`: 401 without it,
    403 with a wrong one."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("this operation needs 'Authorization: Bearer <API_TOKEN>'")
        expected = current_app.config["MLSTACK"].API_TOKEN or ""
        if not hmac.compare_digest(token.strip().encode(), expected.encode()):
            raise Forbidden("the bearer token is not valid")
        return func(*args, **kwargs)

    return wrapper


def admin_operation(ns):
    """An admin operation of namespace `ns`: the token check, and its documentation
    (bearer security, 401 and 403 answers)."""

    def decorate(func):
        func = admin_required(func)
        func = ns.response(401, "Missing token", ERROR_MODEL)(func)
        func = ns.response(403, "Wrong token", ERROR_MODEL)(func)
        return ns.doc(security="bearer")(func)

    return decorate


def create_api_blueprint(swagger: bool = True, training: bool = True) -> Blueprint:
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

    @api.errorhandler(ServiceError)
    def _service_error(exc: ServiceError):
        return error_body(exc.message, exc.errors), exc.status

    @api.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        message = data.get("message") or exc.description or exc.name
        body = error_body(str(message), data.get("errors"))
        if getattr(exc, "data", None) is not None:
            exc.data = body  # flask-restx answers with exc.data over the handler's result
        return body, exc.code or 500

    def _database_down(exc: Exception):
        return error_body("the database is unavailable; try again shortly"), 503

    for exc_class in DATABASE_DOWN:
        api.errorhandler(exc_class)(_database_down)

    @api.errorhandler(Exception)
    def _unexpected(exc: Exception):  # flask-restx logs it (Flask.log_exception)
        return error_body("internal error"), 500

    from app.api import bundles, datasets, health, jobs, models, predictions

    training_ns = [jobs.train_ns, jobs.ns, datasets.ns, jobs.algo_ns] if training else []
    for ns in (models.ns, predictions.ns, *training_ns, health.ns, bundles.ns):
        api.add_namespace(ns)
    return bp
