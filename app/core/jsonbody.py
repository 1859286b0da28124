"""A request body that must be one JSON object: the same refusals, with the same
messages, for every endpoint that takes one (/api/v1 predictions, V2 inference)."""

from __future__ import annotations

from typing import Any

import orjson

from app.core.errors import InvalidInput


def json_object(body: bytes, key: str) -> dict[str, Any]:
    """`body` parsed with orjson; `key` names the field the messages show in the
    expected shape (`{"instances": [...]}`, `{"inputs": [...]}`)."""
    shape = f'{{"{key}": [...]}}'
    if not body:
        raise InvalidInput(f"the request body is empty: send {shape}", {"body": "empty"})
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}", {"body": "malformed JSON"}) from None
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"the body must be a JSON object {shape}", {"body": "expected an object"}
        )
    return doc
