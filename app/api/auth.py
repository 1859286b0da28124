"""The admin token: `Authorization: Bearer <API_TOKEN>` on every operation that
changes state (or reads training data).

flask-restx validates a payload (`expect(..., validate=True)`) and parses forms before
the method runs, so a check inside the method would come after the body was read.
`require_token_first` runs as the blueprint's `before_request` instead: an anonymous
request to an admin operation is refused before a byte of its body is read."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import current_app, request
from flask_restx import Namespace

from app.api.errors import ERROR_MODEL, Forbidden, Unauthorized
from app.services import current_services

ADMIN_FLAG = "admin_operation"  # set on the methods admin_operation decorates


def check_admin_token() -> None:
    """401 without a bearer token, 403 with a wrong one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this operation needs 'Authorization: Bearer <API_TOKEN>'")
    expected = current_services().config.API_TOKEN or ""
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden("the bearer token is not valid")


def is_admin_view(view: Any, method: str) -> bool:
    """Whether the flask-restx resource behind `view` answers `method` with an admin
    operation (HEAD is answered by GET)."""
    resource = getattr(view, "view_class", None)
    if resource is None:
        return False
    handler = getattr(resource, method.lower(), None)
    if handler is None and method == "HEAD":
        handler = getattr(resource, "get", None)
    return bool(getattr(handler, ADMIN_FLAG, False))


def require_token_first() -> None:
    """`before_request`: the token of an admin operation, checked before flask-restx
    validates or parses its body."""
    endpoint = request.endpoint
    if endpoint is not None and is_admin_view(
        current_app.view_functions.get(endpoint), request.method
    ):
        check_admin_token()


def admin_operation(ns: Namespace) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An admin operation of namespace `ns`: the token check (also made by
    `require_token_first` before the body is read), and its documentation (bearer
    security, 401 and 403 answers)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_admin_token()
            return func(*args, **kwargs)

        setattr(checked, ADMIN_FLAG, True)  # functools.wraps carries it through outer decorators
        checked = ns.response(401, "Missing token", ERROR_MODEL)(checked)
        checked = ns.response(403, "Wrong token", ERROR_MODEL)(checked)
        return ns.doc(security="bearer")(checked)

    return decorate


def admin_reader() -> bool:
    """Whether the caller may see training data on a public read (uploaded datasets'
    rows, jobs' specs): True with the admin token, False without one (the data is
    then left out of the answer); a wrong token is still a 403."""
    if not request.headers.get("Authorization"):
        return False
    check_admin_token()
    return True
