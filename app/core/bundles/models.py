"""The models a bundle carries: each artifact with its schema, metrics, lineage and
example rows answered by the model itself, from the registry or from a local file."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sklearn

from app.core.errors import InvalidInput
from app.core.registry import Registry, algorithm_name, check_name, describe_estimator
from app.core.runtime import LoadedModel, load_artifact, load_bytes, read_verified, sha256_bytes
from app.core.schema import CompiledSchema, check_schema, derive_schema

REF = re.compile(r"(?P<name>[^@]+)(?:@(?P<version>[0-9]{1,9}))?")  # checked with fullmatch
MAX_MODELS = 20


@dataclass
class BundleModel:
    name: str
    source_version: int | None  # the registry version it came from (None: a local file)
    artifact: bytes
    artifact_format: str
    task: str
    algorithm: str
    classes: list[Any] | None
    schema: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any] | None
    sklearn_version: str
    description: str | None = None
    examples: list[dict[str, Any]] = field(default_factory=list[Any])

    @property
    def artifact_sha256(self) -> str:
        return sha256_bytes(self.artifact)

    @property
    def artifact_path(self) -> str:
        return f"models/{self.name}/model.{self.artifact_format}"

    def record(self) -> dict[str, Any]:
        """models/<name>/model.json: everything the bundle needs besides the artifact."""
        return {
            "name": self.name,
            "description": self.description,
            "source": {"version": self.source_version, "artifact_sha256": self.artifact_sha256},
            "artifact": f"model.{self.artifact_format}",
            "artifact_format": self.artifact_format,
            "task": self.task,
            "algorithm": self.algorithm,
            "classes": self.classes,
            "schema": self.schema,
            "metrics": self.metrics,
            "training": self.training,
            "sklearn_version": self.sklearn_version,
            "examples": self.examples,
        }


def parse_refs(refs: Any) -> list[tuple[str, int | None]]:
    """`["iris", "people@3"]` -> [("iris", None), ("people", 3)]; one version per name."""
    if not isinstance(refs, (list, tuple)) or not refs or not all(isinstance(r, str) for r in refs):
        raise InvalidInput(
            'models must be a non-empty list like ["iris", "people@3"]',
            {"models": "expected a non-empty list of NAME or NAME@VERSION"},
        )
    if len(refs) > MAX_MODELS:
        raise InvalidInput(f"at most {MAX_MODELS} models per bundle", {"models": "too many"})
    out: list[tuple[str, int | None]] = []
    for ref in refs:
        match = REF.fullmatch(ref)
        if match is None:
            raise InvalidInput(
                f"invalid model reference {ref[:80]!r}: use NAME or NAME@VERSION",
                {"models": "expected NAME or NAME@VERSION"},
            )
        name = check_name(match["name"])
        if any(name == n for n, _ in out):
            raise InvalidInput(
                f"model {name!r} is listed twice: a bundle serves one version per model",
                {"models": f"{name} twice"},
            )
        out.append((name, int(match["version"]) if match["version"] else None))
    return out


def from_registry(registry: Registry, refs: Any) -> list[BundleModel]:
    """The named versions (default: production), read and verified from the store."""
    models = []
    for name, version in parse_refs(refs):
        if version is None:
            version = registry.get_model(name)["production_version"]
            if version is None:
                raise InvalidInput(
                    f"model {name!r} has no production version: name one (NAME@VERSION)"
                )
        v = registry.get_version(name, version)
        # the store's layout (ArtifactStore.write): <model>/<sha256>.<format>
        path = registry.store.path(f"{name}/{v['artifact_sha256']}.{v['artifact_format']}")
        data = read_verified(path, v["artifact_sha256"])
        description = registry.get_model(name).get("description")
        model = BundleModel(
            name,
            version,
            data,
            v["artifact_format"],
            v["task"],
            v["algorithm"],
            v["classes"],
            v["schema"],
            v["metrics"] or {},
            v["training"],
            v["sklearn_version"],
            description,
        )
        model.examples = answered_examples(model)
        models.append(model)
    return models


def from_file(
    name: str,
    data: bytes,
    fmt: str = "skops",
    schema: Any = None,
    metrics: dict[str, Any] | None = None,
) -> BundleModel:
    """A local artifact (CLI, no server): checked like an upload, the schema given or
    derived, the running scikit-learn taken as the one it was made with."""
    check_name(name)
    est = load_artifact(data, fmt)
    task, classes = describe_estimator(est)
    schema = (
        check_schema(schema, getattr(est, "n_features_in_", None))
        if schema is not None
        else derive_schema(est)
    )
    model = BundleModel(
        name,
        None,
        data,
        fmt,
        task,
        algorithm_name(est),
        classes,
        schema,
        metrics or {},
        None,
        sklearn.__version__,
    )
    model.examples = answered_examples(model, est)
    return model


def example_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema's example row and, when some features take missing values, the
    same row with those missing."""
    compiled = CompiledSchema.from_doc(schema)
    row = compiled.example_instance()
    rows = [row]
    nullable = [f["name"] for f in compiled.features if f.get("nullable")]
    if nullable:
        rows.append({k: (None if k in nullable else v) for k, v in row.items()})
    return rows


def answered_examples(model: BundleModel, est: Any = None) -> list[dict[str, Any]]:
    """Each example row with the answer this very artifact gives (predictions and,
    for classifiers that have them, probabilities)."""
    est = est if est is not None else load_bytes(model.artifact, model.artifact_format)
    loaded = LoadedModel(
        model.name,
        model.source_version or 1,
        model.task,
        est,
        CompiledSchema.from_doc(model.schema),
        model.classes,
    )
    out = []
    for index, row in enumerate(example_rows(model.schema)):
        matrix, _ = loaded.schema.rows_to_matrix([row], 1)
        try:
            answer = loaded.predict(matrix, loaded.has_proba)
        except Exception as exc:  # noqa: BLE001 - the model itself fails on the row
            if index == 0:
                raise InvalidInput(
                    f"model {model.name!r} cannot predict its schema's example row: "
                    f"{type(exc).__name__}: {str(exc)[:200]}"
                ) from None
            continue  # the schema says missing values are fine, the model disagrees: no such example
        example = {"row": row, "prediction": answer["predictions"][0]}
        if "probabilities" in answer:
            example["probabilities"] = answer["probabilities"][0]
        out.append(example)
    return out
