"""HTTP fixtures for the audit API: the app on a real container, a key per role, a service's traffic.

Also the helpers the /v1/audit test modules share: the traffic itself, cutting a checkpoint,
reading the published key, and the events written so far (all of them, or the audit.read ones).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from api.app import create_app
from audit import tables as audit_tables
from audit.note import parse_verifier_key
from piivault.container import Container
from tests.approved import TEST_DPO, create_client
from tests.pii import COMMON

ROLES = ("admin", "service", "dpo", "analyst", "auditor")
SERVICE_PURPOSES = ["account_service", "aml_kyc", "risk_scoring", "marketing"]
ID_NUMBER, CARD, MOBILE, NAME = COMMON[:4]
SUBJECT = "cust-0001"


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


def traffic(client, keys) -> dict[str, str]:
    """A service tokenizes a customer and reads two values back, one at a time: field type -> token."""
    items = [
        {"field_type": "name", "value": NAME, "subject_id": SUBJECT},
        {"field_type": "cn_mobile", "value": MOBILE, "subject_id": SUBJECT},
        {"field_type": "cn_resident_id", "value": ID_NUMBER, "subject_id": SUBJECT},
    ]
    resp = client.post("/v1/tokenize", json={"items": items}, headers=keys["service"])
    assert resp.status_code == 200, resp.json
    tokens = {i["field_type"]: r["token"] for i, r in zip(items, resp.json["items"], strict=True)}
    for field_type, value in (("name", NAME), ("cn_mobile", MOBILE)):  # two requests, two events
        body = {"purpose": "aml_kyc", "tokens": [tokens[field_type]]}
        resp = client.post("/v1/detokenize", json=body, headers=keys["service"])
        assert resp.json["items"] == [{"value": value}]
    return tokens


def checkpoint(client, keys, role="auditor") -> dict:
    resp = client.post("/v1/audit/checkpoint", json={}, headers=keys[role])
    assert resp.status_code == 201, resp.json
    return resp.json


def public_key(client, keys) -> tuple[str, bytes]:
    body = client.get("/v1/audit/public-key", headers=keys["dpo"]).json
    vkey = parse_verifier_key(body["verifier_key"])
    assert vkey.public_key == base64.b64decode(body["public_key"]) and vkey.name == body["origin"]
    return vkey.name, vkey.public_key


def reads(container, operation=None) -> list[dict]:
    return [
        e
        for e in logged(container)
        if e["action"] == "audit.read" and operation in (None, e["details"]["operation"])
    ]
