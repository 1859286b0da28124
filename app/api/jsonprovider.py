"""The app's JSON provider: request bodies read through `request.get_json()` (and so
flask-restx's payload validation) are parsed by the core's one JSON parser, so a deeply
nested or out-of-range body is a 400 with a JSON message on every endpoint."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

from app.core.jsonbody import json_document


class JSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json_document(s)
