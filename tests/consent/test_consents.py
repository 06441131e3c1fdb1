"""Grant, renew, withdraw; the derived state; enforcement on detokenize; history is append-only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from privacy import tables as pt
from privacy.errors import ConsentConflict, InvalidConsent, NotAllowed, PurposeNotFound
from tests.consent.conftest import ANALYST, DPO, SERVICE, call, customer, detokenize


def test_configured_purposes_are_seeded_with_a_first_notice(container, svc):
    purposes = {p.code: p for p in call(container, "list_purposes")}
    assert set(purposes) >= {"account_service", "aml_kyc", "risk_scoring", "marketing", "third_party_sharing"}
    aml = purposes["aml_kyc"]
    assert (aml.retention_anchor, aml.retention_years, aml.hold_roles) == (
        "relationship_end",
        5,
        ("service", "dpo"),
    )
    assert purposes["third_party_sharing"].separate_grounds == ("third_party",)
    assert call(container, "get_notice", "marketing", 1)["version"] == 1


def test_grant_then_detokenize_then_withdraw_blocks_the_very_next_request(container, svc):
    tokens = customer(container)
    mobile = tokens["cn_mobile"]
    assert detokenize(container, "marketing", [mobile]) == [{"error": "denied", "reason": "no consent"}]
    granted = call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    assert granted["consent"]["state"] == "granted"
    assert detokenize(container, "marketing", [mobile]) == [{"value": "13812345678"}]
    call(container, "withdraw", SERVICE, "cust-0001", "marketing", channel="web")
    assert detokenize(container, "marketing", [mobile]) == [{"error": "denied", "reason": "withdrawn"}]


def test_expiry_and_renewal(container, svc, clock):
    mobile = customer(container)["cn_mobile"]
    call(
        container,
        "grant",
        SERVICE,
        "cust-0001",
        "marketing",
        channel="branch",
        expires_at=clock.now.replace(year=clock.now.year + 1),
    )
    clock.advance(days=400)
    assert detokenize(container, "marketing", [mobile]) == [{"error": "denied", "reason": "expired"}]
    renewed = call(container, "renew", SERVICE, "cust-0001", "marketing", channel="app")
    assert renewed["record"]["action"] == "renew" and renewed["consent"]["state"] == "granted"
    assert detokenize(container, "marketing", [mobile]) == [{"value": "13812345678"}]


def test_withdraw_without_consent_and_renew_after_withdrawal_conflict(container, svc):
    with pytest.raises(ConsentConflict):
        call(container, "withdraw", SERVICE, "cust-0001", "marketing", channel="app")
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    call(container, "withdraw", SERVICE, "cust-0001", "marketing", channel="app")
    with pytest.raises(ConsentConflict):
        call(container, "renew", SERVICE, "cust-0001", "marketing", channel="app")


@pytest.mark.parametrize(
    ("purpose", "kwargs", "error"),
    [
        ("marketing", {"channel": "fax"}, InvalidConsent),
        ("marketing", {"channel": "app", "evidence": "the form said yes"}, InvalidConsent),
        ("marketing", {"channel": "app", "notice_version": 7}, InvalidConsent),
        ("aml_kyc", {"channel": "app"}, InvalidConsent),  # rests on a legal obligation
        ("third_party_sharing", {"channel": "app"}, InvalidConsent),  # needs separate: true
        ("no_such_purpose", {"channel": "app"}, PurposeNotFound),
    ],
)
def test_bad_grants_are_refused(container, svc, purpose, kwargs, error):
    with pytest.raises(error):
        call(container, "grant", SERVICE, "cust-0001", purpose, **kwargs)


def test_a_subject_id_that_is_pii_is_refused(container, svc):
    with pytest.raises(InvalidConsent, match="personal identifier"):
        call(container, "grant", SERVICE, "13812345678", "marketing", channel="app")


def test_roles(container, svc):
    with pytest.raises(NotAllowed):
        call(container, "grant", ANALYST, "cust-0001", "marketing", channel="app")


def test_separate_consent_for_sensitive_field_types(container, svc):
    tokens = customer(container)
    card = tokens["bank_card"]  # PIPL-sensitive
    call(container, "grant", SERVICE, "cust-0001", "risk_scoring", channel="app")
    assert detokenize(container, "risk_scoring", [card]) == [
        {"error": "denied", "reason": "separate consent missing"}
    ]
    call(container, "grant", SERVICE, "cust-0001", "risk_scoring", channel="app", separate=True)
    assert detokenize(container, "risk_scoring", [card]) == [
        {"value": card and detokenize_value(container, card)}
    ]


def detokenize_value(container, token):
    return detokenize(container, "aml_kyc", [token])[0]["value"]


def test_material_notice_change_requires_reconsent_unless_grace(container, svc):
    mobile = customer(container)["cn_mobile"]
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    call(container, "publish_notice", DPO, "marketing", text_zh="新的营销告知", material=False)
    assert detokenize(container, "marketing", [mobile])[0] == {"value": "13812345678"}
    call(container, "publish_notice", DPO, "marketing", text_zh="重大变更的营销告知", material=True)
    assert detokenize(container, "marketing", [mobile])[0] == {
        "error": "denied",
        "reason": "reconsent required",
    }
    state = call(container, "consents_of", DPO, "cust-0001")["consents"][0]
    assert (state["state"], state["counts"]) == ("reconsent_required", False)
    # Letting older consents count again widens access: purpose.widen, another DPO approves.
    from access import model as am

    asked = call(
        container,
        "change_purpose",
        DPO,
        "marketing",
        {"reconsent_grace": True},
        acting=am.Acting("dai", "dpo", "user:dai"),
    )
    assert asked.widens == ("reconsent_grace",)
    assert detokenize(container, "marketing", [mobile])[0]["error"] == "denied"
    container.access.approve(am.Acting("don", "dpo", "user:don"), asked.approval.id)
    assert detokenize(container, "marketing", [mobile])[0] == {"value": "13812345678"}
    with pytest.raises(InvalidConsent, match="notice_version"):
        call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app", notice_version=1)
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    state = call(container, "consents_of", DPO, "cust-0001")["consents"][0]
    assert (state["state"], state["notice_version"]) == ("granted", 3)


def test_history_is_append_only_and_the_state_derived(container, svc):
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    call(container, "withdraw", SERVICE, "cust-0001", "marketing", channel="app")
    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="phone")
    found = call(container, "consents_of", DPO, "cust-0001")
    assert [r["action"] for r in found["history"]] == ["grant", "withdraw", "grant"]
    assert [c["state"] for c in found["consents"]] == ["granted"]
    with container.engine.connect() as conn, pytest.raises(exc.DatabaseError):
        conn.execute(pt.records.update().values(action="grant"))
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(pt.records)) == 3


def test_the_consent_lookup_joined_to_the_token_query_answers_as_the_check_does(container, svc, clock):
    # Subjects in every state the check tells apart, detokenized in ONE batch.
    mobiles = {sid: customer(container, sid)["cn_mobile"] for sid in (f"cust-{n:04d}" for n in range(1, 8))}
    call(container, "grant", SERVICE, "cust-0002", "marketing", channel="app")
    call(container, "grant", SERVICE, "cust-0003", "marketing", channel="app")
    call(container, "withdraw", SERVICE, "cust-0003", "marketing", channel="web")
    later = clock.now.replace(year=clock.now.year + 1)
    call(container, "grant", SERVICE, "cust-0004", "marketing", channel="branch", expires_at=later)
    call(container, "grant", SERVICE, "cust-0005", "marketing", channel="app")
    call(container, "withdraw", SERVICE, "cust-0005", "marketing", channel="app")
    call(container, "grant", SERVICE, "cust-0005", "marketing", channel="app")
    call(container, "grant", SERVICE, "cust-0006", "marketing", channel="app")
    call(container, "publish_notice", DPO, "marketing", text_zh="重大变更", material=True)
    call(container, "grant", SERVICE, "cust-0007", "marketing", channel="app")
    clock.advance(days=400)  # cust-0004's consent has expired
    tokenization = container.tokenization
    batch = list(mobiles.values())

    def no_separate_query(*args):
        raise AssertionError("the joined lookup must answer without a query of its own")

    tokenization.consent_check = no_separate_query  # shadows the method on this instance
    try:
        joined = detokenize(container, "marketing", batch)
    finally:
        del tokenization.consent_check
    tokenization.consent_join = None  # one query per subject, as before
    try:
        checked = detokenize(container, "marketing", batch)
    finally:
        del tokenization.consent_join
    assert joined == checked
    reasons = [r.get("reason", "granted") for r in joined]
    assert reasons == [
        "no consent",
        "reconsent required",
        "withdrawn",
        "expired",
        "reconsent required",
        "reconsent required",
        "granted",
    ]
