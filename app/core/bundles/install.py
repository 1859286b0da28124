"""A bundle's first start: register the models it carries (models/<name>/model.json
and the artifact beside it) into its own, still empty, registry."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from app.core.errors import ArtifactCorrupt, ModelNotFound
from app.core.registry import Registry
from app.core.runtime import read_verified

log = logging.getLogger(__name__)


def read_bundle_models(directory: Path) -> list[tuple[dict[str, Any], bytes]]:
    """(record, verified artifact bytes) for every model of a bundle, by name."""
    out = []
    for record_path in sorted(Path(directory).glob("*/model.json")):
        record = json.loads(record_path.read_text())
        data = read_verified(
            record_path.parent / record["artifact"], record["source"]["artifact_sha256"]
        )
        out.append((record, data))
    if not out:
        raise ArtifactCorrupt(f"no models under {directory} (models/<name>/model.json)")
    return out


def register_bundle_models(registry: Registry, directory: Path) -> list[str]:
    """Register each model the registry does not know yet; returns what was added."""
    added = []
    for record, data in read_bundle_models(directory):
        try:
            registry.get_model(record["name"])
            continue  # registered on an earlier start
        except ModelNotFound:
            pass
        lineage = {"bundled_from": record["source"], "training": record["training"]}
        v = registry.add_version(
            record["name"],
            data,
            record["artifact_format"],
            schema=record["schema"],
            metrics=record["metrics"],
            training=lineage,
            algorithm=record["algorithm"],
            promote=True,
            description=record["description"],
        )
        added.append(f"{v['model']} v{v['version']}")
    log.info("bundle models registered: %s", ", ".join(added) or "none new")
    return added
