"""The development demo seeder's key goes through four eyes like any other, with no exception:
its made-up admin asks and its made-up DPO approves, each through a credential of its own."""

from __future__ import annotations

from api.app import create_app
from piivault.devmode import DEV_ADMIN, DEV_DPO, demo_service_key
from tests.api.conftest import settings_env
from tests.api_tokens.conftest import bearer, customer_items
from tests.consent.conftest import audit_payloads


def test_the_demo_key_is_asked_and_approved_through_two_credentials(container, monkeypatch):
    for name, value in settings_env(container).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIIVAULT_ENV", "development")
    client = create_app(container).test_client()
    with demo_service_key() as key:
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
