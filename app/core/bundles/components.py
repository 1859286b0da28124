"""Which parts a bundle has, and which combinations make sense.

The rules follow from how this stack runs: the supervised stack (conf/entrypoint.sh
and supervisord.conf) always prepares and runs PostgreSQL and is the only thing that
runs nginx; `make run` (conf/run-dev.sh) serves gunicorn alone on SQLite or any
DATABASE_URL; an offline bundle (no `api`) has no server at all."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import InvalidInput

COMPONENTS = (
    "api",
    "swagger",
    "ui",
    "training",
    "database",
    "nginx",
    "supervisor",
    "docker",
    "tests",
)
DATABASES = ("sqlite", "postgres")
DEFAULT_COMPONENTS = ("api", "swagger", "database", "tests")

# component -> (what it needs, why): checked in this order, every failure reported
REQUIRES: tuple[tuple[str, str, str], ...] = (
    ("swagger", "api", "Swagger documents the HTTP API"),
    ("ui", "api", "the web pages are a client of the HTTP API"),
    ("training", "api", "training is started through the HTTP API"),
    ("training", "database", "training jobs are queued in the database"),
    (
        "database",
        "api",
        "only the HTTP service keeps a registry database; the offline scorer reads the models' files",
    ),
    ("api", "database", "the HTTP service keeps its model registry in a database"),
    ("nginx", "api", "nginx proxies the HTTP API"),
    ("nginx", "supervisor", "nginx runs under supervisord in this stack (supervisord.conf)"),
    ("supervisor", "api", "supervisord runs the HTTP service (gunicorn)"),
    ("docker", "supervisor", "the image's entrypoint (conf/entrypoint.sh) execs supervisord"),
    ("docker", "nginx", "the image publishes nginx's port 5001 (Dockerfile, docker-compose.yml)"),
)


@dataclass(frozen=True)
class Choice:
    """The validated parts of a bundle."""

    components: frozenset[str]
    database: str | None  # "sqlite" | "postgres" when the database component is on

    def has(self, name: str) -> bool:
        return name in self.components

    @property
    def online(self) -> bool:
        return "api" in self.components

    def as_list(self) -> list[str]:
        return sorted(self.components)


def resolve(components: object = None, database: object = None) -> Choice:
    """Validate a request's components (None = the defaults) and database engine
    (None = sqlite); raise InvalidInput saying why a combination cannot work."""
    if components is None:
        components = list(DEFAULT_COMPONENTS)
    if not isinstance(components, (list, tuple)) or not all(isinstance(c, str) for c in components):
        raise InvalidInput(
            "components must be a list of names",
            {"components": "expected a list of strings from " + ", ".join(COMPONENTS)},
        )
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise InvalidInput(
            "unknown components: " + ", ".join(repr(c[:40]) for c in unknown[:10]),
            {"components": "choose from " + ", ".join(COMPONENTS)},
        )
    chosen = frozenset(components)
    if database is not None and database not in DATABASES:
        raise InvalidInput(
            f"unknown database {str(database)[:40]!r}", {"database": "choose sqlite or postgres"}
        )
    if database is not None and "database" not in chosen:
        raise InvalidInput(
            "a database engine was given but the 'database' component is off",
            {"database": "add 'database' to the components or leave it out"},
        )
    engine = (database or "sqlite") if "database" in chosen else None
    errors = {}
    for component, needed, why in REQUIRES:
        if component in chosen and needed not in chosen and component not in errors:
            errors[component] = f"needs '{needed}': {why}"
    if engine == "postgres" and "supervisor" not in chosen:
        errors["database"] = (
            "postgres needs 'supervisor': the stack's entrypoint creates and "
            "supervisord runs the PostgreSQL server"
        )
    if "supervisor" in chosen and engine == "sqlite":
        errors["supervisor"] = (
            "needs database postgres: the supervised stack (conf/entrypoint.sh, "
            "supervisord.conf) always prepares and runs PostgreSQL"
        )
    if errors:
        raise InvalidInput(
            "these components cannot be combined: "
            + "; ".join(f"{k} {v}" for k, v in errors.items()),
            {f"components.{k}": v for k, v in errors.items()},
        )
    return Choice(chosen, engine)
