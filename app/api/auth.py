"""The admin token: `Authorization: Bearer <API_TOKEN>` on every operation that
changes state (or reads training data)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import request
from flask_restx import Namespace

from app.api.errors import ERROR_MODEL, Forbidden, Unauthorized
from app.services import current_services


def check_admin_token() -> None:
    """401 without a bearer token, 403 with a wrong one."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("this operation needs 'Authorization: Bearer <API_TOKEN>'")
    expected = current_services().config.API_TOKEN or ""
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Forbidden("the bearer token is not valid")


def admin_operation(ns: Namespace) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An admin operation of namespace `ns`: the token check, and its documentation
    (bearer security, 401 and 403 answers)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(func)
        def checked(*args: Any, **kwargs: Any) -> Any:
            check_admin_token()
            return func(*args, **kwargs)

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
