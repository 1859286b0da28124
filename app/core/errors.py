"""One exception hierarchy for the domain. Each error carries its HTTP status so the
API layer maps it with a single handler; the core itself knows nothing about HTTP."""
from __future__ import annotations


class ServiceError(Exception):
    status = 500
    default_message = "internal error"

    def __init__(self, message: str | None = None, errors: dict[str, str] | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.errors = errors or {}


class InvalidInput(ServiceError):
    status = 400
    default_message = "invalid input"


class Unauthorized(ServiceError):
    status = 401
    default_message = "missing bearer token"


class Forbidden(ServiceError):
    status = 403
    default_message = "invalid token"


class NotFound(ServiceError):
    status = 404
    default_message = "not found"


class ModelNotFound(NotFound):
    default_message = "model not found"


class VersionNotFound(NotFound):
    default_message = "model version not found"


class Conflict(ServiceError):
    status = 409
    default_message = "conflict"


class PayloadTooLarge(ServiceError):
    status = 413
    default_message = "payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    default_message = "unsupported media type"


class Unavailable(ServiceError):
    status = 503
    default_message = "service unavailable"


class ArtifactCorrupt(ServiceError):
    """An artifact on disk does not match its recorded checksum: an operator problem."""

    status = 503
    default_message = "model artifact failed its checksum"
