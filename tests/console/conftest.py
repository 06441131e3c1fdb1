"""Console fixtures: the app on a real container, users of each role, a signed-in test client.

Passwords go through argon2id for real (about 0.1-0.3 s each), so each test
signs in only the users it needs.

Also what the bad-input tests of the forms share (test_forms.py, test_forms_purposes_users.py):
the check that a refused form says why and changes nothing, checked on the database itself (the
rows of every table a form could write, and the audit events of every action that changes
something; reads, which are audited too, are left out), and the setups their cases need.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.console.services import ConsoleService, console_service
from consent import tables as consent_tables
from identity.users import tables as ct
from piivault.container import Container
from privacy import tables as privacy_tables
from privacy.model import Actor
from tests.consent.conftest import Clock, audit_payloads, customer
from tokenization import tables as tt

__all__ = [
    "ENGLISH",
    "PASSWORD",
    "SUBJECT",
    "Clock",
    "Console",
    "FormCase",
    "audit_payloads",
    "count_rows",
    "csrf_of",
    "form_cases",
    "granted",
    "new_dsr",
    "placed_hold",
    "refused_unchanged",
    "sign_in",
]

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
# Three English words in a row: a service's message shown as it is, not in the page's language.
ENGLISH = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]{2,}){2,}")
READS = {"subject.read", "consent.read", "audit.read", "dsr.read", "lookup", "detokenize", "subject.find"}
SUBJECT = "cust-0001"
DPO_ACTOR = Actor("client:dpo", "dpo")


@pytest.fixture
def clock(container: Container) -> Clock:
    """One movable clock for the console, consent and tokenization services."""
    c = Clock()
    console_service(container).clock = c
    container.consent.clock = c
    container.tokenization.clock = c
    return c


@pytest.fixture
def console(container: Container, clock: Clock) -> ConsoleService:
    return console_service(container)


@pytest.fixture
def app(container: Container, clock: Clock) -> Flask:
    return create_app(container)


@pytest.fixture
def make_user(console: ConsoleService) -> Callable[..., str]:
    def make(username: str, role: str = "dpo", **kwargs: object) -> str:
        console.users.create(username=username, role=role, password=PASSWORD, actor="test", **kwargs)
        return username

    return make


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, **kwargs: object):
    """Post the sign-in form as a browser would (token from the page); return the response."""
    page = client.get("/console/login", **kwargs)
    token = csrf_of(page.get_data(as_text=True))
    return client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": password, "next": ""},
        **kwargs,
    )


class Console:
    """A test client signed in as one user, posting forms with that session's CSRF token."""

    def __init__(self, client: FlaskClient, username: str) -> None:
        self.client = client
        self.username = username
        response = sign_in(client, username)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        self.token = csrf_of(client.get("/console/").get_data(as_text=True))

    def get(self, path: str, **kwargs: object):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kwargs: object):
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.token)
        return self.client.post(path, data=body, **kwargs)


@pytest.fixture
def signed_in(app: Flask, make_user: Callable[..., str]) -> Callable[..., Console]:
    """``signed_in("dpo")`` -> a Console for a new user of that role (username = role by default)."""

    def make(role: str = "dpo", username: str | None = None) -> Console:
        name = make_user(username or role, role)
        return Console(app.test_client(), name)

    return make


def count_rows(container: Container, table: sa.Table) -> int:
    with container.session_factory() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def snapshot(container) -> dict[str, Any]:
    """The rows of every table a form could write, and the actions (reads left out) audited so far."""
    tables = [
        privacy_tables.records,
        privacy_tables.holds,
        consent_tables.dsr_requests,
        consent_tables.dsr_steps,
        privacy_tables.purpose_versions,
        privacy_tables.notices,
        consent_tables.jobs,
        ct.users,
        tt.tokens,
    ]
    with container.session_factory() as s:
        state = {t.name: s.execute(sa.select(t)).all() for t in tables}
        state["subjects"] = s.execute(sa.select(privacy_tables.subjects)).all()
        state["sessions"] = s.scalar(sa.select(sa.func.count()).select_from(ct.sessions))
    state["changes"] = [e["action"] for e in audit_payloads(container) if e["action"] not in READS]
    return state


def new_dsr(container, kind: str, to: str | None = None) -> str:
    svc = container.consent
    with container.uow() as uow:
        dsr_id = svc.create_request(uow, DPO_ACTOR, SUBJECT, kind, channel="branch")["dsr_id"]
    steps = {"identity_verified": ["identity_verified"], "approved": ["identity_verified", "approved"]}
    for state in steps.get(to or "", []):
        with container.uow() as uow:
            svc.advance_request(uow, DPO_ACTOR, dsr_id, state, method="in_person")
    return dsr_id


def granted(container, purpose: str) -> dict[str, str]:
    with container.uow() as uow:
        container.consent.grant(uow, DPO_ACTOR, SUBJECT, purpose, channel="app")
    return {}


def placed_hold(container) -> str:
    svc = container.consent
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with container.uow() as uow:
        return svc.place_hold(uow, DPO_ACTOR, SUBJECT, reason_code="litigation", ends_at=ends)["hold_id"]


Setup = Callable[[Any], dict[str, str]] | None
# (case id, role, path (may use {dsr} / {hold}), form, status, text on the page, setup)
FormCase = tuple[str, str, str, dict[str, str], int, str, Setup]


def form_cases(cases: list[FormCase]) -> list:
    """Each case as the parameters of a bad-input test, with its case id as the test's id."""
    return [pytest.param(*case[1:], id=case[0]) for case in cases]


def refused_unchanged(
    container: Container,
    signed_in: Callable[..., Console],
    role: str,
    path: str,
    form: dict[str, str],
    status: int,
    text: str,
    setup: Setup,
) -> None:
    """``role`` posts ``form`` for the customer SUBJECT: ``status``, ``text`` on the page, nothing changed."""
    customer(container, SUBJECT)
    user = signed_in(role)
    path = path.format(**(setup(container) if setup else {}))
    before = snapshot(container)
    response = user.post(path, form)
    html = response.get_data(as_text=True)
    assert response.status_code == status, html[:3000]
    assert text in html
    flash = re.search(r'id="form-error"[^>]*>(.*?)</div>', html, re.S)
    assert flash is None or not ENGLISH.search(flash.group(1)), flash.group(1)  # a Chinese page
    assert snapshot(container) == before
