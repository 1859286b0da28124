"""Liveness and readiness."""

from __future__ import annotations

import logging

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
    @ns.response(200, "Ready to serve", ready_answer)
    @ns.response(503, "The database is unreachable or no model can be loaded", ready_answer)
    def get(self):
        """Readiness: the database answers and a model can be loaded"""
        services = current_services()
        registry = services.registry
        checks = {}
        try:
            services.db.ping()
            checks["database"] = "ok"
        except ServiceError as exc:
            checks["database"] = exc.message
        try:
            checks["models"] = models_check(registry)
        except ServiceError as exc:
            checks["models"] = exc.message
        ok = all(v == "ok" for v in checks.values())
        return {"status": "ready" if ok else "unavailable", "checks": checks}, 200 if ok else 503


def models_check(registry: Registry) -> str:
    production = {n: v for n, v in registry.production_versions().items() if v is not None}
    if not production:
        return "no model has a production version"
    for name, version in production.items():
        try:
            registry.resolve(name, version)
            return "ok"
        except ServiceError as exc:
            log.warning("readiness: %s v%s cannot be loaded: %s", name, version, exc.message)
    return "no production model can be loaded"
