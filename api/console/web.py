"""The console blueprint's machinery: sessions, CSRF, headers, rendering, errors, roles.

The request's context (who, which language) is :mod:`api.console.context`; how things are
named in the user's language is :mod:`api.console.wording`.

Every request to ``/console`` passes :func:`_before`: the session cookie is
resolved to a signed-in user (API keys are not looked at), pages other than
sign-in need one, and every POST must carry the form's CSRF token (the
session's, or before sign-in the one bound to the sign-in cookie), compared in
constant time. Responses get a strict Content-Security-Policy (no inline
script or style), ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``
and ``Cache-Control: no-store``.

Outcome messages travel as ``?ok=<key>`` (a message-catalogue key, never
text), so no cookie-backed flash storage is needed.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from api.audit import ROLES as AUDIT_API_ROLES
from api.body import url_holds_nul
from api.console import i18n
from api.console.context import (
    csrf_token,
    lang,
    service,
    signed_in,
    t,
)
from api.console.forms import CSRF_FIELD, FieldError, Form, MultiMapping, UnexpectedField
from api.console.wording import (
    actor_name,
    builtin_text,
    checkpoint_time,
    error_text,
    event_name,
    event_reason,
    field_error,
    ft,
    last_day,
    local_time,
    options,
    purpose_label,
    purpose_name,
    reason_text,
)
from identity.users.sessions import SignedIn
from piivault.db import is_unavailable
from piivault.errors import Forbidden, PiivaultError, UnavailableError
from piivault.ids import urlsafe_token
from privacy import model as consent_model
from vault import constant_time_equal

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PUBLIC_ENDPOINTS = frozenset({"console.login", "console.language", "console.static"})
LANG_COOKIE = "pv_lang"
# Set by a language chosen on the sign-in page: that choice becomes the user's preference.
LANG_CHOSEN_COOKIE = "pv_lang_chosen"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


# -- cookies ------------------------------------------------------------------------------
def _cookie_name(base: str) -> str:
    # __Host- needs Secure (and Path=/, no Domain): browsers refuse it over plain HTTP.
    return f"__Host-{base}" if request.is_secure else base


def session_cookie() -> str:
    return _cookie_name("pv_console")


def login_cookie() -> str:
    return _cookie_name("pv_login")


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=request.is_secure, httponly=True, samesite="Strict")


# -- hooks --------------------------------------------------------------------------------
@blp.before_request
def _before() -> Response | None:
    g.request_id = uuid.uuid4().hex
    g.lang = i18n.choose(request.cookies.get(LANG_COOKIE))
    if request.endpoint == "console.static":
        return None
    if url_holds_nul() or any("\x00" in k or "\x00" in v for k, v in request.form.items(multi=True)):
        # No text the console stores or looks up can hold U+0000 (PostgreSQL's cannot).
        return page("error.html", status=400, title_key="error.bad_form_title", message_key="error.bad_form")
    presented = request.cookies.get(session_cookie())
    g.signed_in = service().sessions.resolve(presented) if presented else None
    if g.signed_in is not None:
        g.lang = g.signed_in.user.language
        g.csrf_token = g.signed_in.session.csrf_token
    else:
        g.csrf_token = request.cookies.get(login_cookie(), "")
    if g.signed_in is None and request.endpoint not in PUBLIC_ENDPOINTS:
        target = {"expired": "1"} if presented else {}
        if request.method == "GET" and request.full_path.startswith("/console"):
            target["next"] = request.full_path.rstrip("?")
        return redirect(url_for("console.login", **target))
    if request.method == "POST" and not _csrf_ok():
        return page("error.html", status=400, title_key="csrf.title", message_key="csrf.message")
    return None


def _csrf_ok() -> bool:
    expected = g.get("csrf_token") or ""
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not given:
        return False
    return constant_time_equal(given.encode("utf-8"), expected.encode("utf-8"))


@blp.after_request
def _headers(response: Response) -> Response:
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"
    h["X-Content-Type-Options"] = "nosniff"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if request.endpoint != "console.static":
        h["Cache-Control"] = "no-store"
    return response


@blp.context_processor
def _context() -> dict[str, Any]:
    found = g.get("signed_in")
    return {
        "t": t,
        "lang": lang(),
        "me": found.user if isinstance(found, SignedIn) else None,
        "csrf_token": csrf_token,
        "local": local_time,
        "last_day": last_day,
        "ok_message": _ok_message(),
        "field_error": field_error,
        "can": can,
        "checkpoint_time": checkpoint_time,
        "ft": ft,
        "options": options,
        "purpose_name": purpose_name,
        "event_reason": event_reason,
        "event_name": event_name,
        "reason_text": reason_text,
        "builtin_text": builtin_text,
        "actor_name": actor_name,
        "purpose_label": purpose_label,
    }


def _ok_message() -> str | None:
    key = request.args.get("ok", "")
    full = f"ok.{key}"
    return t(full) if key and i18n.has(full) else None


# -- rendering -------------------------------------------------------------------------------


def page(template: str, *, status: int = 200, **context: Any) -> Response:
    """Render a console page. Field errors anywhere in the context add a summary at the top."""
    if not context.get("error") and any(_has_field_errors(v) for k, v in context.items() if "errors" in k):
        context["error"] = t("form.fix_below")
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _has_field_errors(value: Any) -> bool:
    if isinstance(value, FieldError):
        return True
    return isinstance(value, dict) and any(_has_field_errors(v) for v in value.values())


def done(endpoint: str, ok: str, **values: Any) -> Response:
    """Redirect after a successful POST, with the outcome's message key."""
    return redirect(url_for(endpoint, ok=ok, **values), code=303)


def read_form(allowed: set[str] | frozenset[str], data: MultiMapping | None = None) -> Form:
    """The request's form, refusing unexpected fields (raises UnexpectedField, shown as 400)."""
    return Form(data if data is not None else request.form, allowed)


def safe_next(raw: str | None, default: str) -> str:
    """A redirect target inside the console only (no scheme, host or protocol-relative path).

    Control characters and white space (a CR/LF would split the Location header, a
    U+2028 too in some clients) and backslashes (which browsers read as slashes) give
    ``default``.
    """
    if not raw or "\\" in raw or any(c.isspace() or unicodedata.category(c)[0] == "C" for c in raw):
        return default
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or raw.startswith("//"):
        return default
    return raw


def new_login_token() -> str:
    return urlsafe_token(32)


# -- roles ------------------------------------------------------------------------------------
# What each role may do in the console; the domain services check again. Where the console
# offers what a service decides alone, it takes the service's roles rather than a copy.
PERMISSIONS: dict[str, frozenset[str]] = {
    "subjects": frozenset({"dpo"}),
    "consent_change": frozenset({"dpo"}),
    "holds_change": frozenset(consent_model.DSR_ROLES),
    "dsr": frozenset(consent_model.DSR_ROLES),
    "purposes_change": frozenset(consent_model.PURPOSE_ADMIN_ROLES),
    # The API's rule, not a second one: /v1/audit is for auditors and DPOs, not admins.
    "audit": frozenset(AUDIT_API_ROLES),
    "users": frozenset({"admin"}),
    # Approvals, grants, break-glass: every console role may look; access.AccessService decides.
    "approvals": frozenset({"dpo", "auditor", "admin"}),
}


def can(permission: str) -> bool:
    found = g.get("signed_in")
    return isinstance(found, SignedIn) and found.role in PERMISSIONS[permission]


def requires(permission: str) -> Callable[[F], F]:
    """Only users whose role has ``permission`` reach the view; others get the 403 page."""
    allowed = PERMISSIONS[permission]

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if signed_in().role not in allowed:
                return forbidden()
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def forbidden() -> Response:
    return page("error.html", status=403, title_key="forbidden.title", message_key="forbidden.message")


# -- errors -----------------------------------------------------------------------------------
@blp.errorhandler(UnexpectedField)
def _unexpected(_: UnexpectedField) -> Response:
    return page("error.html", status=400, title_key="error.bad_form_title", message_key="error.bad_form")


@blp.errorhandler(Forbidden)
def _forbidden(_: Forbidden) -> Response:
    return forbidden()


@blp.errorhandler(UnavailableError)
def _unavailable(error: UnavailableError) -> Response:
    log.warning("console: dependency unavailable: %s", error.code)
    response = page(
        "error.html", status=503, title_key="unavailable.title", message_key="unavailable.message"
    )
    response.headers["Retry-After"] = str(error.retry_after)
    return response


@blp.errorhandler(HTTPException)
def _http(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return page("error.html", status=404, title_key="notfound.title", message_key="notfound.message")
    if status == 413:
        return page("error.html", status=413, title_key="error.bad_form_title", message_key="error.too_large")
    return page("error.html", status=status, title_key="error.title", message_key="error.generic")


@blp.errorhandler(Exception)
def _unexpected_error(error: Exception) -> Response:
    if is_unavailable(error):
        return _unavailable(UnavailableError("database unavailable"))
    if isinstance(error, PiivaultError) and error.http_status < 500:
        response = page(
            "error.html", status=error.http_status, title_key="error.title", message=error_text(error)
        )
        extra_headers = getattr(error, "http_headers", None)  # e.g. Retry-After of a 429
        if callable(extra_headers):
            response.headers.update(extra_headers())
        return response
    # The type only: exception text may carry values.
    log.error("console: unhandled %s", type(error).__name__)
    return page("error.html", status=500, title_key="error.title", message_key="error.generic")
