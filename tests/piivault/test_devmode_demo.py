"""The development demo seeder's key goes through four eyes like any other, with no exception:
its made-up admin asks and its made-up DPO approves, each through a credential of its own."""

from __future__ import annotations

import contextlib

import pytest

from anonymize.demo_key import DEMO_CLIENT, demo_service_key
from api.app import create_app
from piivault.container import build_container
from piivault.devenv import DEV_ADMIN, DEV_DPO
from piivault.errors import ConfigurationError
from piivault.settings import Settings
from tests.api.conftest import settings_env
from tests.api_tokens.conftest import bearer, customer_items
from tests.consent.conftest import audit_payloads


def test_the_demo_key_is_asked_and_approved_through_two_credentials(container, monkeypatch):
    for name, value in settings_env(container).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIIVAULT_ENV", "development")
    client = create_app(container).test_client()
    development = build_container(Settings.from_env())
    with contextlib.closing(development), demo_service_key(development) as key:
        stored = client.post("/v1/tokenize", json={"items": customer_items()[:1]}, headers=bearer(key))
        assert stored.status_code == 200, stored.json
    events = audit_payloads(container)
    asked = next(e for e in events if e["action"] == "approval.request")
    approved = next(e for e in events if e["action"] == "approval.approve")
    assert (asked["details"]["requester"], approved["details"]["person"]) == (DEV_ADMIN, DEV_DPO)
    assert approved["outcome"] == "success" and asked["actor"] != approved["actor"]
    # Revoked when the block ends.
    again = client.post("/v1/tokenize", json={"items": customer_items()[:1]}, headers=bearer(key))
    assert again.status_code == 401


def test_no_demo_key_is_made_outside_development_mode(container):
    """The seeder's shortcut refuses any other environment (here: test) before it makes a client."""
    with pytest.raises(ConfigurationError, match="only in development mode"), demo_service_key(container):
        pass
    assert container.clients.find_by_name(DEMO_CLIENT) == []
