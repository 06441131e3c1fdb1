"""Authentication and role checks for every API request.

Every request needs ``Authorization: Bearer <API key>`` except the blueprints
declared public in :func:`init_app` (``/healthz``, ``/readyz``, and the
OpenAPI document and its docs page, which describe the API and hold no data).
Unknown paths need a key too, so an unauthenticated caller cannot map routes.

What views use::

    from api.auth import Principal, current_principal, require_roles

    @require_roles("service")
    def post(...):
        principal = current_principal()   # Principal(client_id, name, role, purposes, field_types)

``flask.g.principal`` holds the same object.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, TypeVar

from flask import Flask, current_app, g, request

from api.ratelimit import FailureLimiter
from identity.clients import keys
from identity.clients.errors import (
    InvalidApiKey,
    MalformedAuthorization,
    TooManyFailedAttempts,
    Unauthenticated,
)
from identity.clients.model import ROLES, Principal
from piivault import metrics
from piivault.errors import Forbidden

__all__ = ["Principal", "current_principal", "init_app", "require_roles"]

log = logging.getLogger(__name__)
_EXT = "piivault.auth"
F = TypeVar("F", bound=Callable[..., Any])


class _AuthState:
    def __init__(self, public_blueprints: frozenset[str], limiter: FailureLimiter) -> None:
        self.public_blueprints = public_blueprints
        self.limiter = limiter


def init_app(app: Flask, *, public_blueprints: Iterable[str], limiter: FailureLimiter) -> None:
    """Authenticate every request to ``app`` outside ``public_blueprints``."""
    app.extensions[_EXT] = _AuthState(frozenset(public_blueprints), limiter)
    app.before_request(_authenticate)


def _bearer_credential() -> str:
    header = request.headers.get("Authorization")
    if not header:
        raise Unauthenticated()
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise MalformedAuthorization()
    return credential


def _authenticate() -> None:
    """``before_request``: set ``g.principal`` or raise.

    Raises :class:`Unauthenticated` (401) for a missing, malformed, wrong,
    revoked or expired key, :class:`TooManyFailedAttempts` (429) for a key
    that fails once its client id or this address has failed too often, and
    ``StorageUnavailable`` / ``VaultUnavailable`` (503) when the key cannot
    be checked.

    The key is checked first: one that verifies is never refused because of
    failures, its own or others' (a CRM behind the same NAT as a scanner, or
    whose client id someone is guessing secrets for). The limiter sheds and
    flags the guessing; the keys' 256-bit secrets are what make it futile.
    """
    state: _AuthState = current_app.extensions[_EXT]
    if request.blueprint in state.public_blueprints:
        return
    credential = _bearer_credential()
    address = request.remote_addr or "unknown"
    store = current_app.extensions["piivault"].clients
    try:
        g.principal = store.authenticate(credential)
    except InvalidApiKey as e:
        counted = [f"addr:{address}"]
        parsed = keys.parse(credential)
        if parsed is not None:
            counted.append(f"client:{parsed.public_id}")
        waits = [w for w in map(state.limiter.retry_after, counted) if w is not None]
        if waits:
            log.warning("authentication refused: too many failed attempts from %s", address)
            metrics.AUTH_LIMITER_REFUSALS.inc()
            raise TooManyFailedAttempts(max(waits)) from None
        for key in counted:
            state.limiter.failed(key)
        # The code only: the presented credential never reaches a log line.
        log.info("authentication failed from %s: %s", address, e.code)
        raise


def current_principal() -> Principal:
    """The authenticated caller of this request.

    Raises :class:`Unauthenticated` if there is none (a public route, or
    outside a request): callers that need a principal fail closed.
    """
    principal = g.get("principal") if g else None
    if not isinstance(principal, Principal):
        raise Unauthenticated()
    return principal


def require_roles(*roles: str, on_denied: Callable[[], None] | None = None) -> Callable[[F], F]:
    """Decorate a view so that only callers with one of ``roles`` reach it.

    Raises :class:`Forbidden` (403) for any other role (after ``on_denied()``,
    which may audit the attempt or raise its own 403), and
    :class:`Unauthenticated` (401) without a principal. The check runs before
    the request body is read: :mod:`api.body` calls it (the view's
    ``role_check``) before it judges the body, and the view calls it again.
    The roles are documented in the OpenAPI operation (``x-required-roles``
    and a 403 response).
    """
    if not roles or any(r not in ROLES for r in roles):
        raise ValueError(f"require_roles takes roles among: {', '.join(ROLES)}")
    allowed = frozenset(roles)

    def role_check() -> None:
        if current_principal().role not in allowed:
            if on_denied is not None:
                on_denied()
            raise Forbidden(f"this operation needs the role {' or '.join(roles)}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            role_check()
            return view(*args, **kwargs)

        wrapper.role_check = role_check  # type: ignore[attr-defined]
        # flask-smorest reads a view's documentation from ``_apidoc``.
        apidoc = deepcopy(getattr(view, "_apidoc", {}))
        manual = apidoc.setdefault("manual_doc", {})
        manual["x-required-roles"] = list(roles)
        manual.setdefault("responses", {})["403"] = "FORBIDDEN"
        wrapper._apidoc = apidoc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
