"""Approval requests: who may ask, who may approve, states, expiry, and the audit trail."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import pytest
import sqlalchemy as sa

from access import Scope, errors, load_rules
from access import model as m
from access import tables as t
from access.rules import log_four_eyes
from audit.tables import events as audit_events
from tests.access.conftest import (
    ADMIN_ANN,
    AUDITOR_AL,
    DPO_DAI,
    DPO_DAI_SECOND_KEY,
    DPO_DEE,
    DPO_DON,
    NOBODY,
    REVEAL,
)
from tests.conftest import make_container, make_settings


def _reveal(access, who=DPO_DAI, scope=REVEAL):
    return access.request(who, m.REVEAL, scope, "complaint", "customer complaint about a wrong address")


def _actions(container) -> list[tuple[str, str, str | None]]:
    with container.engine.connect() as conn:
        payloads = conn.scalars(sa.select(audit_events.c.payload).order_by(audit_events.c.seq))
        events = [json.loads(p) for p in payloads]
    return [
        (e["action"], e["outcome"], e["reason"])
        for e in events
        if e["action"].startswith(("approval.", "grant.", "break_glass."))
    ]


def test_a_request_waits_for_another_persons_approval_and_becomes_a_grant(access, container, clock):
    asked = _reveal(access)
    assert asked.state == m.PENDING and asked.approvals_needed == 1 and asked.approver_roles == ("dpo",)
    with container.session_factory() as session:
        assert access.reveal_grants(session, "dai") == []

    approved = access.approve(DPO_DON, asked.id)

    assert approved.state == m.APPROVED and approved.grant_id
    assert [a.person for a in approved.approvals] == ["don"]
    grant = access.get_grant(approved.grant_id)
    assert (grant.holder, grant.kind, grant.approved_by) == ("dai", m.APPROVAL, ("don",))
    assert grant.expires_at == clock.now + dt.timedelta(minutes=30)
    assert access.get(asked.id).grant_id == grant.id
    assert _actions(container) == [
        ("approval.request", "success", None),
        ("approval.approve", "success", None),
        ("grant.create", "success", "complaint"),
    ]


def test_dpo_self_approval_is_refused_and_audited(access, container):
    asked = _reveal(access)
    with pytest.raises(errors.SelfApproval):
        access.approve(DPO_DAI, asked.id)
    assert access.get(asked.id).state == m.PENDING
    assert ("approval.approve", "denied", "self_approval") in _actions(container)


def test_the_same_person_through_a_second_key_is_refused(access):
    asked = _reveal(access)
    with pytest.raises(errors.SelfApproval):
        access.approve(DPO_DAI_SECOND_KEY, asked.id)
    with pytest.raises(errors.SelfApproval):
        access.deny(DPO_DAI_SECOND_KEY, asked.id)
    assert access.get(asked.id).state == m.PENDING


def test_one_person_counts_once_whatever_credential(access, container):
    container.access.rules = load_rules("reveal=2")
    asked = access.request(DPO_DON, m.REVEAL, REVEAL, "complaint", "two approvals needed here")
    access.approve(DPO_DAI, asked.id)
    with pytest.raises(errors.AlreadyApproved):
        access.approve(DPO_DAI_SECOND_KEY, asked.id)
    assert access.get(asked.id).state == m.PENDING
    assert access.approve(DPO_DEE, asked.id).state == m.APPROVED


def test_the_credential_that_asked_cannot_decide_whatever_person_it_names(access, container):
    """One key, one console session or one terminal naming a second person is still the
    credential that asked: refused (audited), approve and deny alike."""
    asked = _reveal(access)  # dai, through client:dai00001
    posing = m.Acting("don", "dpo", DPO_DAI.actor)
    with pytest.raises(errors.SelfApproval, match="credential that asked"):
        access.approve(posing, asked.id)
    with pytest.raises(errors.SelfApproval):
        access.deny(posing, asked.id)
    assert access.get(asked.id).state == m.PENDING
    assert _actions(container).count(("approval.approve", "denied", "self_approval")) == 1
    assert ("approval.deny", "denied", "self_approval") in _actions(container)
    # The real don, through his own credential, may.
    assert access.approve(DPO_DON, asked.id).state == m.APPROVED


def test_one_credential_gives_one_approval_under_one_name(access, container):
    container.access.rules = load_rules("reveal=2")
    asked = access.request(DPO_DON, m.REVEAL, REVEAL, "complaint", "two approvals needed here")
    access.approve(DPO_DEE, asked.id)  # user:dee
    with pytest.raises(errors.SameCredential):
        access.approve(m.Acting("dai", "dpo", DPO_DEE.actor), asked.id)
    found = access.get(asked.id)
    assert found.state == m.PENDING and [a.person for a in found.approvals] == ["dee"]
    assert ("approval.approve", "denied", "same_credential") in _actions(container)
    assert access.approve(DPO_DAI, asked.id).state == m.APPROVED


def test_an_approver_needs_the_approving_role_and_a_person(access):
    asked = _reveal(access)
    with pytest.raises(errors.NotApprover):
        access.approve(AUDITOR_AL, asked.id)
    with pytest.raises(errors.NotApprover):
        access.approve(ADMIN_ANN, asked.id)
    with pytest.raises(errors.NoPerson):
        access.approve(NOBODY, asked.id)
    with pytest.raises(errors.NoPerson):
        _reveal(access, NOBODY)


def test_the_requester_role_is_checked(access):
    with pytest.raises(errors.RequesterRole):
        _reveal(access, ADMIN_ANN)
    with pytest.raises(errors.RequesterRole):
        access.request(
            DPO_DAI, m.CLIENT_DATA_ACCESS, Scope(target="abcd1234"), "client_onboarding", "new crm"
        )


def test_deny_and_withdraw_are_final(access):
    denied = access.deny(DPO_DON, _reveal(access).id)
    assert (denied.state, denied.decided_by) == (m.DENIED, "don")
    with pytest.raises(errors.AlreadyDecided):
        access.approve(DPO_DEE, denied.id)

    asked = _reveal(access)
    with pytest.raises(errors.NotRequester):
        access.withdraw(DPO_DON, asked.id)
    withdrawn = access.withdraw(DPO_DAI_SECOND_KEY, asked.id)  # the same person, another key
    assert withdrawn.state == m.WITHDRAWN
    with pytest.raises(errors.AlreadyDecided):
        access.approve(DPO_DON, asked.id)


def test_a_request_expires_unapproved(access, clock, container):
    asked = _reveal(access)
    clock.advance(hours=73)
    assert [r.id for r in access.list_requests(state=m.EXPIRED)] == [asked.id]
    with pytest.raises(errors.AlreadyDecided):
        access.approve(DPO_DON, asked.id)
    assert access.get(asked.id).state == m.EXPIRED
    assert ("approval.expire", "success", None) in _actions(container)


@pytest.mark.parametrize(
    "text",
    [
        "call 13812345678 back",
        "客户110105199003071233的投诉",
        "card 6222 0200 1123 4567 2 reported",
    ],
)
def test_free_text_holding_an_identifier_is_refused(access, text):
    from fieldtypes.checksums import GB11643, LUHN

    text = text.replace("110105199003071233", GB11643.complete("11010519900307123"))
    text = text.replace("6222 0200 1123 4567 2", " ".join(_groups(LUHN.complete("622202001123456"))))
    with pytest.raises(errors.InvalidScope, match="must not hold an identifier"):
        access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", text)


def _groups(card: str) -> list[str]:
    return [card[i : i + 4] for i in range(0, len(card), 4)]


def test_scope_rules(access):
    with pytest.raises(errors.InvalidScope):
        _reveal(access, scope=Scope(purpose="aml_kyc"))  # no subject
    with pytest.raises(errors.InvalidScope):
        _reveal(access, scope=Scope(subjects=("subj_0123456789abcdef",), purpose="no_such_purpose"))
    with pytest.raises(errors.InvalidScope):
        _reveal(access, scope=Scope(subjects=("subj_0123456789abcdef",), purpose="aml_kyc", minutes=100_000))
    with pytest.raises(errors.InvalidScope):
        access.request(DPO_DAI, m.DSR_PACKAGE, Scope(), "data_subject_request", "no target")
    with pytest.raises(errors.InvalidScope):
        access.request(DPO_DAI, m.REVEAL, REVEAL, "because", "unknown reason code")


def test_lists_filter_and_the_inbox_leaves_out_ones_own(access):
    mine = _reveal(access)
    theirs = _reveal(access, DPO_DON)
    assert {r.id for r in access.list_requests(requester="dai")} == {mine.id}
    assert {r.id for r in access.list_requests(approvable_by=DPO_DAI_SECOND_KEY)} == {theirs.id}
    assert {r.id for r in access.list_requests(approvable_by=AUDITOR_AL)} == set()
    access.approve(DPO_DON, mine.id)
    assert {r.id for r in access.list_requests(state=m.PENDING)} == {theirs.id}
    assert {r.id for r in access.list_requests(state=m.APPROVED, action=m.REVEAL)} == {mine.id}


def test_revoked_and_expired_grants_end(access, clock, container):
    grant_id = access.approve(DPO_DON, _reveal(access).id).grant_id
    with container.session_factory() as session:
        assert [g.id for g in access.reveal_grants(session, "dai")] == [grant_id]
    clock.advance(minutes=31)
    with container.session_factory() as session:
        assert access.reveal_grants(session, "dai") == []
    with pytest.raises(errors.GrantInactive):
        access.revoke(DPO_DON, grant_id)

    second = access.approve(DPO_DON, _reveal(access).id).grant_id
    with pytest.raises(errors.NotApprover):
        access.revoke(AUDITOR_AL, second)
    revoked = access.revoke(DPO_DEE, second)
    assert revoked.revoked_by == "dee" and revoked.state_at(clock.now) == m.GRANT_REVOKED
    with container.session_factory() as session:
        assert access.reveal_grants(session, "dai") == []
    assert ("grant.revoke", "success", "complaint") in _actions(container)


def test_concurrent_approvals_give_exactly_one_grant(access, container):
    asked = _reveal(access)
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def approve(who):
        barrier.wait()
        try:
            outcomes.append(access.approve(who, asked.id).state)
        except errors.AlreadyDecided as e:
            outcomes.append(e)

    threads = [threading.Thread(target=approve, args=(who,)) for who in (DPO_DON, DPO_DEE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(map(str, outcomes)).count(m.APPROVED) == 1
    assert sum(isinstance(o, errors.AlreadyDecided) for o in outcomes) == 1
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.grants)).scalar() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(t.approvals)).scalar() == 1


def test_concurrent_approvals_of_a_two_approval_request_both_count(access, container):
    container.access.rules = load_rules("reveal=2")
    asked = _reveal(access)
    barrier = threading.Barrier(2)

    def approve(who):
        barrier.wait()
        access.approve(who, asked.id)

    threads = [threading.Thread(target=approve, args=(who,)) for who in (DPO_DON, DPO_DEE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    found = access.get(asked.id)
    assert found.state == m.APPROVED and sorted(a.person for a in found.approvals) == ["dee", "don"]
    with container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.grants)).scalar() == 1


def test_lowered_count_turns_four_eyes_off_and_says_so(database_url, bao, tmp_path, caplog):
    settings = make_settings(database_url, bao, tmp_path, approvals="reveal=0")
    container = make_container(settings)
    try:
        access = container.access
        asked = access.request(DPO_DAI, m.REVEAL, REVEAL, "complaint", "the only DPO of a small firm")
        assert asked.state == m.APPROVED and asked.grant_id
        assert access.get_grant(asked.grant_id).approved_by == ()
        with caplog.at_level(logging.INFO, logger="access.rules"):
            log_four_eyes(access.rules)
        assert "four-eyes is OFF for: reveal" in caplog.text
    finally:
        container.close()


@pytest.mark.parametrize("raw", ["reveal", "nothing=1", "reveal=x", "reveal=9", "reveal=1:service"])
def test_bad_approval_settings_are_refused(raw):
    from piivault.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        load_rules(raw)
