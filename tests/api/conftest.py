"""HTTP fixtures: the app on a real container, a test client, and keys for each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from piivault.container import Container
from tests.approved import create_client
from tests.conftest import make_container


@pytest.fixture
def app(container: Container) -> Flask:
    return create_app(container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_key(container: Container) -> Callable[..., str]:
    """Create a client as an admin would (data access approved by a DPO) and return its API key."""

    def make(role: str = "service", name: str | None = None, **kwargs: Any) -> str:
        _, key = create_client(container, name=name or f"test-{role}", role=role, **kwargs)
        return key

    return make


@pytest.fixture
def admin_key(make_key: Callable[..., str]) -> str:
    # The admin names a person: a client with data access it creates is asked for by that person.
    return make_key("admin", name="test-admin", person="test-admin")


def settings_env(container: Container) -> dict[str, str]:
    """The ``PIIVAULT_*`` environment that reproduces ``container.settings`` (for the CLI)."""
    s = container.settings
    return {
        "PIIVAULT_ENV": s.env,
        "PIIVAULT_DATABASE_URL": s.database_url,
        "PIIVAULT_VAULT_ADDR": s.vault_addr,
        "PIIVAULT_VAULT_TOKEN": s.vault_token,
        "PIIVAULT_TRANSIT_KEY": s.transit_key,
        "PIIVAULT_ERASURE_LEDGER": s.erasure_ledger,
    }


@pytest.fixture
def container_with(settings) -> Iterator[Callable[..., Container]]:
    """Containers built from the test settings with some overridden."""
    made: list[Container] = []

    def build(**overrides: Any) -> Container:
        c = make_container(settings.replace(**overrides))
        made.append(c)
        return c

    yield build
    for c in made:
        c.close()
