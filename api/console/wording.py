"""How the console names things in the signed-in user's language and time zone: times, field
types, purposes, audit events and their reasons, actors, errors and a service's refusals.

The templates reach these through :mod:`api.console.web`'s context processor; the views call
them directly. Each falls back to the stored code when the message catalogue has no name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from flask import g
from markupsafe import Markup

from api.console import i18n, refusals
from api.console.context import container, domain, lang, t, time_zone
from api.console.forms import FieldError
from consent import dsr
from identity.users.errors import ConsoleError
from piivault.errors import PiivaultError
from privacy.decision import Reason
from privacy.purpose_config import DEFAULT_PURPOSES

_BUILTIN_PURPOSES = {p.code: p for p in DEFAULT_PURPOSES}


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
