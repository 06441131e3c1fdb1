"""Console fixtures: the app on a real container, users of each role, a signed-in test client.

Passwords go through argon2id for real (about 0.1-0.3 s each), so each test
signs in only the users it needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from api.console.services import ConsoleService, console_service
from piivault.container import Container
from tests.consent.conftest import Clock, audit_payloads

__all__ = ["PASSWORD", "Clock", "Console", "audit_payloads", "count_rows", "csrf_of", "sign_in"]

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


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
