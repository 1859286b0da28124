"""Request bodies in JSON: one parser for every endpoint, with the same refusals and
messages. Parsing is orjson's (no recursion in Python, a depth limit of its own, and no
NaN/Infinity tokens); documents a handler walks generically (flask-restx payloads,
`request.get_json()`) are also held to `MAX_DEPTH` levels and to integers that fit in
int64, so nothing past the parser meets a RecursionError or an overflow."""

from __future__ import annotations

from typing import Any

import orjson

from app.core.errors import InvalidInput

MAX_DEPTH = 64  # far more than any documented body needs (predict rows are 3 deep)
INT64 = (-(2**63), 2**63 - 1)


def _parse(body: bytes | str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}", {"body": "malformed JSON"}) from None


def json_object(body: bytes, key: str) -> dict[str, Any]:
    """`body` parsed with orjson; `key` names the field the messages show in the
    expected shape (`{"instances": [...]}`, `{"inputs": [...]}`). The hot path: the
    rows are checked by the model's schema, not walked here."""
    shape = f'{{"{key}": [...]}}'
    if not body:
        raise InvalidInput(f"the request body is empty: send {shape}", {"body": "empty"})
    doc = _parse(body)
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"the body must be a JSON object {shape}", {"body": "expected an object"}
        )
    return doc


def only_keys_are_strings(body: bytes, doc: dict[str, Any]) -> bool:
    """True when the only strings in `body` are the top-level keys of `doc` (the
    object parsed from it): every JSON string takes two quote characters, escaped
    quotes only add more, so a body with exactly two per key holds no string value."""
    return body.count(b'"') == 2 * len(doc)


def json_document(body: bytes | str) -> Any:
    """Any JSON document, checked for depth and integer range (iteratively, linear in
    its size): what every other JSON body of the API goes through."""
    doc = _parse(body)
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            if type(value) is int and not INT64[0] <= value <= INT64[1]:
                raise InvalidInput(
                    f"the number {value} is beyond the 64-bit integer range",
                    {"body": "integer out of range"},
                )
            continue
        if depth > MAX_DEPTH:
            raise InvalidInput(
                f"the JSON body is nested deeper than {MAX_DEPTH} levels",
                {"body": "nested too deep"},
            )
        stack.extend((child, depth + 1) for child in children)
    return doc
