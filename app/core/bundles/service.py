"""Bundles as a service: build from registered versions, keep, read back."""

from __future__ import annotations

from typing import Any

from app.core.bundles.build import Bundle, build
from app.core.bundles.components import resolve
from app.core.bundles.models import from_registry
from app.core.bundles.sources import SourceTree
from app.core.bundles.store import BundleStore
from app.core.errors import InvalidInput
from app.core.registry import Registry

REQUEST_FIELDS = ("models", "components", "database")


def check_request(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput(
            'send a JSON object: {"models": ["iris", "people@1"], "components": [...]}',
            {"body": "expected a JSON object"},
        )
    unknown = sorted(str(k)[:40] for k in body if k not in REQUEST_FIELDS)
    if unknown:
        raise InvalidInput(
            "unknown field(s): " + ", ".join(unknown), {k: "unknown field" for k in unknown}
        )
    if "models" not in body:
        raise InvalidInput("'models' is required", {"models": "required"})
    return body


class BundleService:
    def __init__(self, registry: Registry, store: BundleStore, tree: SourceTree):
        self.registry = registry
        self.store = store
        self.tree = tree

    def build(self, models: Any, components: Any = None, database: Any = None) -> Bundle:
        choice = resolve(components, database)
        return build(from_registry(self.registry, models), choice, self.tree)

    def create(self, body: Any) -> dict[str, Any]:
        """Build and keep a bundle: {"id", "name", "files"}."""
        body = check_request(body)
        bundle = self.build(body["models"], body.get("components"), body.get("database"))
        bundle_id = self.store.save(bundle.archive)
        return {"id": bundle_id, "name": bundle.name, "files": bundle.cards()}

    def show(self, bundle_id: str) -> dict[str, Any]:
        return {
            "id": bundle_id,
            "name": self.store.name(bundle_id),
            "files": self.store.files(bundle_id),
        }
