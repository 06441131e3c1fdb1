"""The console blueprint's machinery: sessions, CSRF, headers, rendering, errors, roles.

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

import contextlib
import datetime as dt
import functools
import json
import logging
import re
import unicodedata
import urllib.parse
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from api.audit import ROLES as AUDIT_API_ROLES
from api.body import url_holds_nul
from api.console import i18n, refusals
from api.console.forms import CSRF_FIELD, FieldError, Form, MultiMapping, UnexpectedField
from api.console.services import ConsoleService, console_service
from api.console.services.service import ConsoleCaller
from consent import dsr
from consent import model as consent_model
from consent.model import Actor
from identity.users.errors import ConsoleError
from identity.users.sessions import SignedIn
from piivault.container import Container
from piivault.db import is_unavailable
from piivault.errors import Forbidden, PiivaultError, UnavailableError
from piivault.ids import urlsafe_token
from tokenization.policy.decision import Reason
from tokenization.policy.purposes import DEFAULT_PURPOSES
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
_BUILTIN_PURPOSES = {p.code: p for p in DEFAULT_PURPOSES}
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


# -- access to the request's context --------------------------------------------------------
def container() -> Container:
    return current_app.extensions["piivault"]


def service() -> ConsoleService:
    return console_service(container())


DomainName = Literal["access", "audit", "consent", "tokenization"]


def domain(name: DomainName) -> Any:
    """A domain service of the container (its typed field of that name): the views' shorthand."""
    return getattr(container(), name)


def signed_in() -> SignedIn:
    found = g.get("signed_in")
    assert isinstance(found, SignedIn), "a console view ran without a signed-in user"
    return found


def actor() -> Actor:
    """The signed-in user as the consent service's actor: ``user:<name>`` with their role."""
    user = signed_in().user
    return Actor(user.actor, user.role, person=user.username)


def caller() -> ConsoleCaller:
    """The signed-in user as the tokenization service's caller."""
    user = signed_in().user
    return ConsoleCaller(user.username, user.role)


def request_id() -> str:
    return g.request_id


def lang() -> str:
    return g.get("lang", i18n.DEFAULT)


def time_zone() -> str:
    found = g.get("signed_in")
    return found.user.time_zone if isinstance(found, SignedIn) else service().users.default_time_zone


def csrf_token() -> str:
    return g.get("csrf_token", "")


def t(key: str, **params: Any) -> str:
    return i18n.t(lang(), key, **params)


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


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC time shown in the signed-in user's time zone."""
    if value is None:
        return "—"
    return value.astimezone(zoneinfo.ZoneInfo(time_zone())).strftime(fmt)


def last_day(end: dt.datetime | None) -> str:
    """The last day an end-exclusive time covers, in the user's zone: a hold "until the end of
    31 December" ends at the first instant of 1 January and is shown as 31 December."""
    if end is None:
        return "—"
    return local_time(end - dt.timedelta(microseconds=1), "%Y-%m-%d")


def ft(code: str) -> str:
    """A field type's name in the user's language (configured types show their code)."""
    key = f"ft.{code}"
    return t(key) if i18n.has(key) else code


def options(prefix: str, values: Any) -> list[tuple[str, str]]:
    """(value, localized label) pairs for a select of codes, labels under ``prefix``."""
    return [(v, t(prefix + v) if i18n.has(prefix + v) else v) for v in values]


def purpose_name(purpose: Any, code: str) -> str:
    """A purpose's name in the user's language (its code when unknown)."""
    if purpose is None:
        return code
    return purpose.name_zh if lang() == "zh" else purpose.name_en


def purpose_options(purposes: Any) -> list[tuple[str, str]]:
    return [(p.code, f"{purpose_name(p, p.code)} ({p.code})") for p in purposes]


def event_reason(event: Any) -> str:
    """The reason a logged event gives (the denial reason of a detokenize, a hold's reason code),
    in the user's language."""
    try:
        reason = json.loads(event.entry).get("reason")
    except (ValueError, AttributeError):
        return ""
    return reason_text(reason, getattr(event, "action", None)) if isinstance(reason, str) else ""


# Reason codes whose meaning depends on the event that gives them (a release's, a rejection's).
_REASONS_BY_ACTION = {
    "hold.place": "hold.reason.",
    "hold.release": "hold.release.",
    "subject.lift_restriction": "lift.reason.",
    f"dsr.{dsr.REJECTED}": "dsr.reject.",
}


def reason_text(reason: str, action: str | None = None) -> str:
    """A policy decision's reason (stored in English in the log), a reason code of a hold, a
    release, a rejection or an approval, or the services' own reasons ("erasure under hold"),
    localized; anything else as stored."""
    candidates = []
    if action in _REASONS_BY_ACTION:
        candidates.append(_REASONS_BY_ACTION[action] + reason)
    with contextlib.suppress(ValueError):
        candidates.append(f"reason.{Reason(reason).name.lower()}")
    candidates += [
        f"hold.reason.{reason}",
        "reason." + re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_"),
        f"approvals.reason.{reason}",  # issue 15's codes
        f"access.error.{reason}",
    ]
    for key in candidates:
        if i18n.has(key):
            return t(key, detail="")
    return reason


def event_name(action: str) -> str:
    """What a logged event did, in the user's language (its action code when unknown)."""
    key = f"event.{action}"
    return t(key) if i18n.has(key) else action


def builtin_text(purpose: Any, field: str) -> str:
    """A purpose's retention or description: a built-in purpose's unchanged English text in the
    user's language, a DPO's own text as written."""
    text = getattr(purpose, field, "") or ""
    default = _BUILTIN_PURPOSES.get(purpose.code)
    key = f"builtin.{purpose.code}.{field}"
    if default is not None and getattr(default, field) == text and i18n.has(key):
        return t(key)
    return text


def _cached(name: str, load: Callable[[], dict[str, str]]) -> dict[str, str]:
    """A lookup table loaded once per request (names of clients, purposes)."""
    found = g.get(name)
    if found is None:
        found = load()
        setattr(g, name, found)
    return found


def actor_name(raw: str | None) -> str:
    """Who an audit actor is, by name: a client's name for ``client:<id>``, the user for
    ``user:<name>``; other actors (the system's own) as stored."""
    if not raw:
        return "—"
    kind, _, ident = raw.partition(":")
    if kind == "client":
        names = _cached("_client_names", _client_names)
        return names.get(ident, raw)
    if kind == "user":
        return ident
    if kind == "cli":
        return t("actor.cli", name=ident)
    if kind in ("system", "piivault") or raw.startswith("piivault."):
        return t("actor.system")
    return raw


def actor_code(typed: str) -> str:
    """What an actor filter means: ``kind:id`` as typed, else a name as shown in the console -
    the client of that name (when exactly one has it) or the console user."""
    if ":" in typed:
        return typed
    ids = [ident for ident, name in _cached("_client_names", _client_names).items() if name == typed]
    return f"client:{ids[0]}" if len(ids) == 1 else f"user:{typed}"


def _client_names() -> dict[str, str]:
    return {c.id: c.name for c in container().clients.list_clients()}


def purpose_label(code: str | None) -> str:
    """A purpose code's name in the user's language (the code itself when unknown)."""
    if not code:
        return "—"

    def load() -> dict[str, str]:
        with container().uow() as uow:
            return {p.code: purpose_name(p, p.code) for p in domain("consent").list_purposes(uow)}

    return _cached(f"_purpose_names_{lang()}", load).get(code, code)


def checkpoint_time(checkpoint: Any) -> dt.datetime:
    """When a checkpoint was signed (its note carries Unix seconds)."""
    return dt.datetime.fromtimestamp(checkpoint.timestamp, dt.UTC)


def field_error(errors: dict[str, FieldError] | None, name: str) -> Markup:
    """The localized message of a field's error, for ``aria-describedby`` targets."""
    if not errors or name not in errors:
        return Markup("")
    error = errors[name]
    return Markup("{}").format(t(error.key, **error.params))


def error_text(error: PiivaultError) -> str:
    """What to show for a domain error, in the user's language: the console's own, or the
    service's refusal (:func:`refusal`)."""
    if isinstance(error, ConsoleError):
        return t(error.key, **error.params)
    return t("error.service", detail=refusal(error))


def refusal(error: PiivaultError) -> str:
    """A service's refusal in the user's language, its states, purposes and field types by name
    (:mod:`api.console.refusals`); never its English message on a Chinese page."""
    return refusals.sentence(lang(), error.code, error.message, purpose_label)


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
