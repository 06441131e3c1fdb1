"""HTTP fixtures for the audit API: the app on a real container, a key per role, a service's traffic."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from audit import tables as audit_tables
from piivault.container import Container
from tests.approved import TEST_DPO, create_client

ROLES = ("admin", "service", "dpo", "analyst", "auditor")
SERVICE_PURPOSES = ["account_service", "aml_kyc", "risk_scoring", "marketing"]


@pytest.fixture
def app(container: Container) -> Flask:
    return create_app(container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def keys(container: Container) -> dict[str, dict[str, str]]:
    """``Authorization`` headers per role, and each client's audit actor under ``actors``."""
    made: dict[str, Any] = {"actors": {}}
    for role in ROLES:
        purposes = SERVICE_PURPOSES if role == "service" else []
        person = TEST_DPO if role == "dpo" else None  # four eyes on packages and erasures counts persons
        created, key = create_client(container, name=f"t-{role}", role=role, purposes=purposes, person=person)
        made[role] = {"Authorization": f"Bearer {key}"}
        made["actors"][role] = f"client:{created.id}"
    return made


def logged(container: Container) -> list[dict]:
    """Every audit event written so far (sequenced, then queued), parsed."""
    with container.session_factory() as s:
        events = list(s.scalars(sa.select(audit_tables.events.c.payload).order_by(audit_tables.events.c.seq)))
        queued = list(s.scalars(sa.select(audit_tables.queue.c.payload).order_by(audit_tables.queue.c.id)))
    return [json.loads(p) for p in events + queued]
