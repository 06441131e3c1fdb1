"""The Flask app factory. Receives a wired :class:`piivault.container.Container`."""

from __future__ import annotations

from collections.abc import Callable
from inspect import CO_COROUTINE
from typing import Any

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from api import auth, body, console, health, observe, openapi, problems
from api.ratelimit import FailureLimiter
from piivault.container import Container

_MARKED = "_is_coroutine_marker"  # what inspect.markcoroutinefunction sets (3.12)


class _Flask(Flask):
    """Flask, asking less of each plain function it calls.

    Flask passes every hook and view through :meth:`ensure_sync` on every request (15 times
    a tokenize), which asks :func:`inspect.iscoroutinefunction`: it unwraps methods and
    partials before it reads the code's flags (about 2% of a tokenize's CPU, issue 22).
    A function or bound method whose code is not a coroutine's, and that nothing marked
    as one (Python 3.12's ``inspect.markcoroutinefunction``), is returned at once, as
    Flask would; anything else is Flask's to judge.
    """

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)
        flags = getattr(getattr(target, "__code__", None), "co_flags", None)
        if isinstance(flags, int) and not flags & CO_COROUTINE and not hasattr(target, _MARKED):
            return func
        return super().ensure_sync(func)


def create_app(container: Container) -> Flask:
    """The WSGI app: authentication on every route but health and docs, problem+json errors."""
    settings = container.settings
    app = _Flask("piivault", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions["piivault"] = container
    if settings.trusted_proxies:
        # X-Forwarded-Proto too: behind a TLS-terminating proxy the console's cookie must be Secure.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    api = openapi.configure(app, docs=settings.api_docs)
    problems.register(app)
    observe.init_app(app)  # first: its after_request sees every response
    auth.init_app(
        app,
        # The console (/console) checks its own session cookie and never an API key.
        public_blueprints=(
            health.blp.name,
            observe.blp.name,  # /metrics: its own bearer token (PIIVAULT_METRICS_TOKEN_FILE)
            *openapi.public_blueprints(settings.api_docs),
            *console.public_blueprints(settings.console),
        ),
        limiter=FailureLimiter(settings.auth_failure_limit, settings.auth_failure_window),
    )
    # After authentication: the gate checks the caller's role before it reads the body.
    body.init_app(app, spec=api.spec.to_dict)
    app.after_request(_security_headers)
    app.register_blueprint(health.blp)

    # Resources: one blueprint each, documented in /openapi.json.
    from api.clients import blp as clients_blp

    api.register_blueprint(clients_blp)

    # Tokenization: /v1/tokenize, /v1/detokenize, /v1/tokens/lookup, /v1/subjects.
    from api import subjects, tokens

    api.register_blueprint(tokens.blp)
    api.register_blueprint(subjects.blp)
    from api import fieldtypes  # /v1/field-types

    api.register_blueprint(fieldtypes.blp)
    from api import consent, dsr, purposes  # /v1/purposes, /v1/subjects/{id}/consents, /v1/dsr

    api.register_blueprint(purposes.blp)
    api.register_blueprint(consent.blp)
    api.register_blueprint(dsr.blp)
    api.register_blueprint(__import__("api.anonymize", fromlist=["blp"]).blp)  # /v1/anonymize/text
    from api import attributes, extracts  # /v1/attributes (service), /v1/extracts (analyst, dpo)

    api.register_blueprint(attributes.blp)
    api.register_blueprint(extracts.blp)
    api.register_blueprint(__import__("api.audit", fromlist=["blp"]).blp)
    from api import approvals  # /v1/approvals, /v1/grants, /v1/break-glass

    api.register_blueprint(approvals.blp)  # /v1/audit (auditor, dpo)
    console.register(app, enabled=settings.console)  # /console: the DPO web console
    return app


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/v1/"):
        # Responses may carry tokens, values or a freshly created API key.
        response.headers.setdefault("Cache-Control", "no-store")
    return response
