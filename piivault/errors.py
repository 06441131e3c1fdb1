"""The error hierarchy shared by every layer.

Domain packages raise these (or subclasses); ``api/`` maps them to
problem+json responses through one table, and the CLI prints their message on
one line. Messages must never contain PII, keys or token secrets.
"""

from __future__ import annotations


class PiivaultError(Exception):
    """Base class. ``code`` is a stable machine-readable slug."""

    code = "error"
    http_status = 500

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigurationError(PiivaultError):
    """The service is misconfigured."""

    code = "configuration_error"
    http_status = 500


class UnavailableError(PiivaultError):
    """A dependency (Vault, the database) is unreachable; retrying later may succeed."""

    code = "unavailable"
    http_status = 503
    retry_after = 5


class StorageUnavailable(UnavailableError):
    """The database could not be reached or refused the transaction."""

    code = "storage_unavailable"


class NotFound(PiivaultError):
    """The requested resource does not exist."""

    code = "not_found"
    http_status = 404


class Conflict(PiivaultError):
    """The request conflicts with the current state."""

    code = "conflict"
    http_status = 409


class ValidationFailed(PiivaultError):
    """The request is well-formed but a value breaks a rule."""

    code = "validation_failed"
    http_status = 422


class Forbidden(PiivaultError):
    """The caller is authenticated but not allowed to do this."""

    code = "forbidden"
    http_status = 403


class TooManyRequests(PiivaultError):
    """Too many requests; retry after ``retry_after`` seconds."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after))

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
