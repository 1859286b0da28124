"""The size limit of prediction bodies (MAX_PREDICT_MB), well under the uploads' own
(MAX_UPLOAD_MB): an anonymous caller cannot make a worker read and parse 100 MB to
predict. A declared Content-Length over the limit is refused before anything else
happens (the version is not even resolved); a chunked body is read up to the limit
and no further (werkzeug's per-request `max_content_length`)."""

from __future__ import annotations

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from app.core.errors import PayloadTooLarge

MB = 1024 * 1024


def _too_large(limit: int, length: int | None = None) -> PayloadTooLarge:
    size = f"{length} bytes" if length is not None else "larger than that"
    return PayloadTooLarge(
        f"the prediction body is {size}; the limit is {limit} bytes "
        f"(MAX_PREDICT_MB={limit / MB:g}): send fewer rows per request",
        {"body": f"at most {limit} bytes"},
    )


def limit_prediction_body(req: Request, limit: int) -> None:
    """Call first thing: refuses a declared length over `limit`, and caps what
    `read_prediction_body` will read of a body without one."""
    app_limit = req.max_content_length  # the app's MAX_CONTENT_LENGTH, when lower
    if app_limit is not None:
        limit = min(limit, app_limit)
    req.max_content_length = limit
    length = req.content_length
    if length is not None and length > limit:
        raise _too_large(limit, length)


def read_prediction_body(req: Request) -> bytes:
    """The whole body, at most the limit `limit_prediction_body` set."""
    try:
        return req.get_data(cache=False)
    except RequestEntityTooLarge:
        raise _too_large(req.max_content_length or 0) from None
