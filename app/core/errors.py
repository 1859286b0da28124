"""The domain's errors. The core raises them with plain values; it knows nothing about
HTTP. The API layer turns each class into a status with one mapping (app/api/errors.py)."""

from __future__ import annotations


class ServiceError(Exception):
    default_message = "internal error"

    def __init__(self, message: str | None = None, errors: dict[str, str] | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.errors = errors or {}


class InvalidInput(ServiceError):
    default_message = "invalid input"


class NotFound(ServiceError):
    default_message = "not found"


class ModelNotFound(NotFound):
    def __init__(self, name: str):
        super().__init__(f"model {name!r} not found")
        self.name = name


class VersionNotFound(NotFound):
    """`version` None: the model has no production version."""

    def __init__(self, name: str, version: int | None = None):
        if version is None:
            super().__init__(f"model {name!r} has no production version")
        else:
            super().__init__(f"model {name!r} has no version {version}")
        self.name, self.version = name, version


class Conflict(ServiceError):
    default_message = "conflict"


class PayloadTooLarge(ServiceError):
    default_message = "payload too large"


class Unavailable(ServiceError):
    default_message = "service unavailable"


class DatabaseUnavailable(Unavailable):
    """The database refused or dropped the connection: the request is not at fault."""

    default_message = "the database is unavailable; try again shortly"


class ArtifactUnavailable(Unavailable):
    """A version's artifact cannot be read or loaded (missing, unreadable, corrupt): an
    operator problem, remembered for a while (ARTIFACT_RETRY_SECONDS)."""

    default_message = "the model artifact cannot be loaded"


class ArtifactCorrupt(ArtifactUnavailable):
    """An artifact on disk does not match its recorded checksum: an operator problem."""

    default_message = "model artifact failed its checksum"
