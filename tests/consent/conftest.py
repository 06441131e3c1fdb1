"""Fixtures for the consent services: the service on a real container, a movable clock, actors."""

from __future__ import annotations

import datetime as dt

import pytest

from consent.service import ConsentService
from fieldtypes.checksums import GB11643, LUHN
from piivault.container import Container
from privacy.model import Actor
from tests.approved import SECOND_DPO, TEST_ADMIN, TEST_DPO, create_client
from tokenization.model import TokenizeItem

DPO = Actor("client:dpo-1", "dpo", person=TEST_DPO)  # four eyes counts persons
EVERY_PURPOSE = frozenset({"account_service", "aml_kyc", "risk_scoring", "marketing", "third_party_sharing"})
SERVICE = Actor("client:svc-1", "service", EVERY_PURPOSE)
ADMIN = Actor("client:adm-1", "admin")
ANALYST = Actor("client:ana-1", "analyst")

ID_NUMBER = GB11643.complete("11010519900307123")
CARD = LUHN.complete("622202020011234567")
MOBILE = "13812345678"
NAME = "张三丰"


class Clock:
    """A clock tests move by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture
def clock(container: Container) -> Clock:
    """One clock for the consent and tokenization services of ``container``."""
    c = Clock()
    container.consent.clock = c
    container.tokenization.clock = c
    return c


@pytest.fixture
def svc(container: Container, clock: Clock) -> ConsentService:
    return container.consent


class Caller:
    """Stands in for ``api.auth.Principal`` in tokenization calls."""

    def __init__(self, role: str = "service", purposes: frozenset[str] | None = None) -> None:
        self.client_id = f"c-{role}"
        self.role = role
        self.purposes = purposes or EVERY_PURPOSE
        self.field_types = None


def customer(container: Container, subject_id: str = "cust-0001") -> dict[str, str]:
    """Tokenize a customer's name, mobile, ID number and card; field type -> token."""
    items = [
        TokenizeItem("name", NAME, subject_id),
        TokenizeItem("cn_mobile", MOBILE, subject_id),
        TokenizeItem("cn_resident_id", ID_NUMBER, subject_id),
        TokenizeItem("bank_card", CARD, subject_id),
    ]
    with container.uow() as uow:
        result = container.tokenization.tokenize(uow, Caller(), items)
    return {item.field_type: r["token"] for item, r in zip(items, result.items, strict=True)}


def detokenize(container: Container, purpose: str, tokens: list[str], role: str = "service") -> list[dict]:
    with container.uow() as uow:
        return container.tokenization.detokenize(uow, Caller(role), purpose, tokens)


def call(container: Container, use_case: str, /, *args, **kwargs):
    """Run one consent service use case in its own unit of work."""
    with container.uow() as uow:
        return getattr(container.consent, use_case)(uow, *args, **kwargs)


# -- HTTP ----------------------------------------------------------------------------
@pytest.fixture
def app(container: Container, clock: Clock):
    from api.app import create_app

    return create_app(container)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def keys(container: Container) -> dict[str, dict[str, str]]:
    """Authorization headers per role: service (every purpose), dpo, admin, analyst, and dpo2 (a
    second DPO, another person: four eyes on packages and erasures)."""
    made = {}
    for name, role, purposes in (
        (
            "service",
            "service",
            ["account_service", "aml_kyc", "risk_scoring", "marketing", "third_party_sharing"],
        ),
        ("dpo", "dpo", []),
        ("admin", "admin", []),
        ("analyst", "analyst", []),
        ("dpo2", "dpo", []),
    ):
        permissions = ["write_attributes"] if role == "service" else []
        # The admin asks for the clients it creates; DPOs name their persons (four eyes counts them).
        person = {"admin": TEST_ADMIN, "dpo": TEST_DPO, "dpo2": SECOND_DPO}.get(name)
        _, key = create_client(
            container, name=f"t-{name}", role=role, purposes=purposes, permissions=permissions, person=person
        )
        made[name] = {"Authorization": f"Bearer {key}"}
    return made


def download(client, keys, dsr_id: str, query: str = ""):
    """GET the access package as the first DPO; refused (``approval_required``), the first DPO
    asks (POST .../package/approval), the second approves, then the first downloads."""
    resp = client.get(f"/v1/dsr/{dsr_id}/package{query}", headers=keys["dpo"])
    if resp.status_code == 403 and resp.json["type"].endswith("/approval_required"):
        package_approved(client, keys, dsr_id)
        resp = client.get(f"/v1/dsr/{dsr_id}/package{query}", headers=keys["dpo"])
    return resp


def package_approved(client, keys, dsr_id: str) -> dict:
    """The first DPO asks to download the package (POST /v1/dsr/{id}/package/approval) and the
    second approves: the approved request, with its grant."""
    asked = client.post(f"/v1/dsr/{dsr_id}/package/approval", headers=keys["dpo"])
    assert asked.status_code in (200, 201), asked.json
    resp = client.post(f"/v1/approvals/{asked.json['id']}/approve", json={}, headers=keys["dpo2"])
    assert resp.status_code == 200 and resp.json["state"] == "approved", resp.json
    return resp.json


def second_dpo_approves(client, keys, refused) -> dict:
    """The 403 ``approval_required`` answer ``refused`` names a request: the second DPO approves it
    over HTTP (POST /v1/approvals/{id}/approve), as a person other than the first."""
    assert refused.status_code == 403 and refused.json["type"].endswith("/approval_required"), refused.json
    resp = client.post(f"/v1/approvals/{refused.json['approval_id']}/approve", json={}, headers=keys["dpo2"])
    assert resp.status_code == 200 and resp.json["state"] == "approved", resp.json
    return resp.json


def audit_payloads(container: Container) -> list[dict]:
    """Every audit event written so far (queued or sequenced), parsed."""
    import json

    import sqlalchemy as sa

    from audit import tables as audit_tables

    with container.session_factory() as s:
        queued = list(s.scalars(sa.select(audit_tables.queue.c.payload)))
        logged = list(s.scalars(sa.select(audit_tables.events.c.payload).order_by(audit_tables.events.c.seq)))
    return [json.loads(p) for p in logged + queued]


@pytest.fixture
def container_with(settings):
    """Containers built from the test settings with some overridden."""
    from tests.conftest import make_container

    made: list[Container] = []

    def build(**overrides) -> Container:
        c = make_container(settings.replace(**overrides))
        made.append(c)
        return c

    yield build
    for c in made:
        c.close()
