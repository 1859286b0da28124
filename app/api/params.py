"""Query-string and form parameters: one parser per kind, each answering 400 with the
parameter's name when the value is not one."""

from __future__ import annotations

import re

from flask import Request, request
from werkzeug.routing import IntegerConverter

from app.config import parse_bool
from app.core.errors import InvalidInput

# ASCII digits only, matched whole: int() would also take " 3", "3_0", "+3" and "٣"
_INTEGER = re.compile(r"-?[0-9]{1,30}")


def _integer(raw: str) -> int | None:
    return int(raw) if _INTEGER.fullmatch(raw) else None


def version_arg(req: Request | None = None) -> int | None:
    """`?version=N` (N >= 1), or None for the production version."""
    req = req or request
    if not req.query_string:  # the common case: no query string to parse
        return None
    raw = req.args.get("version")
    if raw is None or raw == "":
        return None
    version = _integer(raw)
    if version is None:
        raise InvalidInput(
            f"version must be a positive integer, got {raw[:40]!r}", {"version": "not an integer"}
        )
    if version < 1:
        raise InvalidInput("version must be a positive integer", {"version": "must be >= 1"})
    return version


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = _integer(raw)
    if value is None:
        raise InvalidInput(f"{name!r} must be an integer", {name: "not an integer"})
    if not low <= value <= high:
        raise InvalidInput(f"{name!r} must be from {low} to {high}", {name: "out of range"})
    return value


def bool_value(name: str, raw: str | None) -> bool:
    """A query or form flag: absent or empty is False; true/false words as in the
    configuration (1/0, true/false, yes/no, on/off); anything else is a 400."""
    if raw is None or not raw.strip():
        return False
    try:
        return parse_bool(raw)
    except ValueError:
        raise InvalidInput(
            f"{name!r} must be true or false, got {raw[:40]!r}", {name: "expected true or false"}
        ) from None


class AsciiIntegerConverter(IntegerConverter):
    """`<int:...>` in routes: ASCII digits only. Werkzeug's own matches `\\d+`, which
    takes any Unicode digit (`/versions/١` was version 1)."""

    regex = r"[0-9]+"
