"""A Python client for the piivault API, a package of its own: the server never imports it.

:class:`PiivaultClient` has one attribute per resource (``subjects``,
``consents``, ``purposes``, ``holds``, ``attributes``, ``dsr``, ``extracts``,
``audit``, ``clients``, ``approvals``, ``grants``, ``break_glass``,
``tokens``); errors are the classes of
:mod:`piivault_client.errors`. See docs/client.md.
"""

from piivault_client.client import PiivaultClient
from piivault_client.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    IntegrityError,
    ItemError,
    ItemsFailed,
    NotFound,
    PayloadTooLarge,
    PiivaultError,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "IntegrityError",
    "ItemError",
    "ItemsFailed",
    "NotFound",
    "PayloadTooLarge",
    "PiivaultClient",
    "PiivaultError",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "ValidationFailed",
]
