"""The console request's context: who is signed in, in which language and time zone, and the
container whose services the views call. Read from Flask's ``g`` and application, which
:mod:`api.console.web`'s hooks fill before any view runs.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import current_app, g

from api.console import i18n
from api.console.services import ConsoleService, console_service
from api.console.services.service import ConsoleCaller
from identity.users.sessions import SignedIn
from piivault.container import Container
from privacy.model import Actor


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
