"""Errors in HTTP terms: the errors only the HTTP layer raises, the one mapping from
every ServiceError class to a status, and the one error body shape."""

from __future__ import annotations

from typing import Any

from flask_restx import Model, fields

from app.core import errors as core
from app.logs import request_id

ERROR_MODEL = Model(
    "Error",
    {
        "message": fields.String(required=True, description="What went wrong"),
        "request_id": fields.String(required=True, description="Echoed in the X-Request-ID header"),
        "errors": fields.Raw(description="Field -> problem, for validation failures"),
    },
)


class Unauthorized(core.ServiceError):
    default_message = "missing bearer token"


class Forbidden(core.ServiceError):
    default_message = "invalid token"


class UnsupportedMediaType(core.ServiceError):
    default_message = "unsupported media type"


# Most specific class first: the first match by isinstance decides.
STATUSES: tuple[tuple[type[core.ServiceError], int], ...] = (
    (core.InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (core.NotFound, 404),
    (core.Conflict, 409),
    (core.PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (core.Unavailable, 503),
)


def status_of(exc: core.ServiceError) -> int:
    for cls, status in STATUSES:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(message: str, errors: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "request_id": request_id()}
    if errors:
        body["errors"] = errors
    return body
