"""Liveness and readiness."""

from __future__ import annotations

import logging
from typing import Any

from flask_restx import Namespace, Resource, fields

from app.core.errors import ServiceError
from app.core.registry import Registry
from app.services import current_services

log = logging.getLogger(__name__)

ns = Namespace("health", description="Liveness and readiness probes")

live_answer = ns.model("Live", {"status": fields.String(required=True, example="ok")})
ready_answer = ns.model(
    "Ready",
    {
        "status": fields.String(required=True, enum=["ready", "unavailable"]),
        "checks": fields.Raw(required=True, description="database, models: 'ok' or the problem"),
        "broken": fields.List(
            fields.Raw,
            description="Versions whose artifact cannot be loaded: model, version, "
            "production, error",
        ),
    },
)


@ns.route("/live")
class Live(Resource):
    @ns.response(200, "The process answers", live_answer)
    def get(self):
        """Liveness: the process answers"""
        return {"status": "ok"}


@ns.route("/ready")
class Ready(Resource):
    @ns.response(200, "Ready to serve (broken versions, if any, listed)", ready_answer)
    @ns.response(503, "The database is unreachable or no model can be loaded", ready_answer)
    def get(self):
        """Readiness: the database answers and a production model loads; broken versions named"""
        services = current_services()
        checks = {}
        try:
            services.db.ping()
            checks["database"] = "ok"
        except ServiceError as exc:
            checks["database"] = exc.message
        try:
            loaded, broken = production_status(services.registry)
            checks["models"] = models_summary(loaded, broken)
        except ServiceError as exc:
            loaded, broken = 0, []
            checks["models"] = exc.message
        ok = checks["database"] == "ok" and loaded > 0
        body: dict[str, Any] = {"status": "ready" if ok else "unavailable", "checks": checks}
        if broken:
            body["broken"] = broken
        return body, 200 if ok else 503


def production_status(registry: Registry) -> tuple[int, list[dict]]:
    """How many production versions load, and every version known not to: the
    production ones that fail now, and others that failed within ARTIFACT_RETRY_SECONDS
    (remembered by the model cache, so a probe does not re-read broken files)."""
    production = {n: v for n, v in registry.production_versions().items() if v is not None}
    loaded, broken = 0, {}
    for name, version in production.items():
        try:
            registry.resolve(name, version)
            loaded += 1
        except ServiceError as exc:
            log.warning("readiness: %s v%s cannot be loaded: %s", name, version, exc.message)
            broken[(name, version)] = exc.message
    for key, message in registry.cache.broken().items():
        broken.setdefault(key, message)
    return loaded, [
        {
            "model": name,
            "version": version,
            "production": production.get(name) == version,
            "error": message,
        }
        for (name, version), message in sorted(broken.items())
    ]


def models_summary(loaded: int, broken: list[dict]) -> str:
    if loaded == 0:
        if not any(b["production"] for b in broken):
            return "no model has a production version"
        return "no production model can be loaded: " + "; ".join(
            b["error"] for b in broken if b["production"]
        )
    failing = sum(b["production"] for b in broken)
    return (
        f"{failing} of {loaded + failing} production versions cannot be loaded" if failing else "ok"
    )


def models_check(registry: Registry) -> str:
    """'ok' when a production model loads, else the problem (V2 readiness)."""
    loaded, broken = production_status(registry)
    return "ok" if loaded else models_summary(loaded, broken)
