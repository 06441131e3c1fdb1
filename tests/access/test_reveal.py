"""The policy decision point consults grants: a DPO (or auditor) sees plain values only under a grant
that another person approved (or a break-glass), and no longer once it is revoked or expired."""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from access import Scope
from access import model as m
from audit.tables import events as audit_events
from tests.access.conftest import AUDITOR_AL, DPO_DAI, DPO_DON
from tests.consent.conftest import ID_NUMBER, NAME, customer
from tokenization.errors import NotPermitted

SUBJECT = "cust-0001"
KYC_NAMES = Scope(subjects=(SUBJECT,), purpose="aml_kyc", field_types=("name",), minutes=30)


@dataclasses.dataclass(frozen=True)
class Person:
    """A caller that names its person, as an API principal or a console user does."""

    role: str
    person: str
    client_id: str = "c-test"
    purposes: frozenset[str] = frozenset()
    field_types: frozenset[str] | None = None


DAI = Person("dpo", "dai")
AL = Person("auditor", "al")


def _detokenize(container, caller, tokens, purpose="aml_kyc"):
    with container.uow() as uow:
        return container.tokenization.detokenize(uow, caller, purpose, tokens)


def _granted(access, who=DPO_DAI, scope=KYC_NAMES) -> str:
    asked = access.request(who, m.REVEAL, scope, "complaint", "checking a complaint about a name")
    return access.approve(DPO_DON, asked.id).grant_id


def test_a_dpo_sees_masked_values_without_a_grant_and_plain_ones_under_it(access, container, clock):
    tokens = customer(container, SUBJECT)
    wanted = [tokens["name"], tokens["cn_resident_id"]]
    before = _detokenize(container, DAI, wanted)
    assert "masked" in before[0] and "value" not in before[0]

    grant_id = _granted(access)
    name, resident_id = _detokenize(container, DAI, wanted)
    assert name == {"value": NAME}
    assert "masked" in resident_id  # outside the grant's field types
    assert "value" not in _detokenize(container, DAI, [tokens["name"]], purpose="account_service")[0]
    assert "masked" in _detokenize(container, Person("dpo", "dee"), [tokens["name"]])[0]  # not the holder

    with container.engine.connect() as conn:
        payloads = [json.loads(p) for p in conn.scalars(sa.select(audit_events.c.payload))]
    under = [p for p in payloads if p["action"] == "detokenize" and p["details"].get("grant")]
    assert len(under) == 1
    assert under[0]["reason"] == "allowed by grant"
    details = under[0]["details"]
    assert (details["grant"], details["grant_kind"], details["approved_by"]) == (
        grant_id,
        "approval",
        ["don"],
    )
    assert ID_NUMBER not in json.dumps(payloads, ensure_ascii=False)


def test_a_revoked_grant_stops_working_on_the_next_request(access, container):
    tokens = customer(container, SUBJECT)
    grant_id = _granted(access)
    assert _detokenize(container, DAI, [tokens["name"]]) == [{"value": NAME}]
    access.revoke(DPO_DON, grant_id)
    assert "masked" in _detokenize(container, DAI, [tokens["name"]])[0]


def test_an_expired_grant_stops_working_on_the_next_request(access, container, clock):
    tokens = customer(container, SUBJECT)
    _granted(access)
    assert _detokenize(container, DAI, [tokens["name"]]) == [{"value": NAME}]
    clock.advance(minutes=31)
    assert "masked" in _detokenize(container, DAI, [tokens["name"]])[0]


def test_an_auditor_detokenizes_only_under_a_grant(access, container):
    tokens = customer(container, SUBJECT)
    with pytest.raises(NotPermitted):
        _detokenize(container, AL, [tokens["name"]])
    _granted(access, AUDITOR_AL)
    assert _detokenize(container, AL, [tokens["name"]]) == [{"value": NAME}]
    assert _detokenize(container, AL, [tokens["cn_resident_id"]])[0]["error"] == "denied"


def test_a_pending_or_denied_request_reveals_nothing(access, container):
    tokens = customer(container, SUBJECT)
    asked = access.request(DPO_DAI, m.REVEAL, KYC_NAMES, "complaint", "checking a complaint")
    assert "masked" in _detokenize(container, DAI, [tokens["name"]])[0]
    access.deny(DPO_DON, asked.id)
    assert "masked" in _detokenize(container, DAI, [tokens["name"]])[0]


def test_break_glass_reveals_at_once_and_is_audited_as_such(access, container):
    tokens = customer(container, SUBJECT)
    grant = access.break_glass(DPO_DAI, m.REVEAL, KYC_NAMES, "incident", "fraud call in progress")
    assert _detokenize(container, DAI, [tokens["name"]]) == [{"value": NAME}]
    with container.engine.connect() as conn:
        payloads = [json.loads(p) for p in conn.scalars(sa.select(audit_events.c.payload))]
    under = [p for p in payloads if p["action"] == "detokenize" and p["details"].get("grant")]
    assert [(p["details"]["grant"], p["details"]["grant_kind"]) for p in under] == [(grant.id, "break_glass")]
    assert [p["action"] for p in payloads if p["action"].startswith("break_glass")] == ["break_glass.take"]


def test_exposure_and_the_subject_access_log_name_the_grant_and_its_approvers(access, container):
    import datetime as dt

    from api.app import create_app
    from api.console.services import console_service
    from tests.console.conftest import PASSWORD, Console

    tokens = customer(container, SUBJECT)
    grant_id = _granted(access)
    assert _detokenize(container, DAI, [tokens["name"]]) == [{"value": NAME}]
    access.revoke(DPO_DAI, grant_id)  # so the next reveal is under the break-glass grant alone
    glass = access.break_glass(DPO_DAI, m.REVEAL, KYC_NAMES, "incident", "fraud call in progress")
    assert _detokenize(container, DAI, [tokens["name"]]) == [{"value": NAME}]
    now = dt.datetime.now(dt.UTC)
    report = container.audit.exposure(
        "client:c-test", now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    )
    (exposed,) = [s for s in report.to_dict()["subjects"] if s["subject_id"] == SUBJECT]
    # Both reveals happened under a grant; the break-glass one was taken at once (no approvers),
    # so it shows which it was and whose approval made the other.
    kinds = {g["grant"]: (g["kind"], g["approved_by"], g["events"]) for g in exposed["grants"]}
    assert kinds == {grant_id: ("approval", ["don"], 1), glass.id: ("break_glass", [], 1)}
    # The console's access log of the subject says the same.
    console_service(container).users.create(username="dee", role="dpo", password=PASSWORD, actor="test")
    page = Console(create_app(container).test_client(), "dee").get(f"/console/subjects/{SUBJECT}")
    html = page.get_data(as_text=True)
    assert 'data-testid="under-grant"' in html and "don" in html and glass.id in html
    assert ID_NUMBER not in html
