"""The bulk population decision agrees with the per-request policy decision point, subject by subject.

Extracts decide eligibility for every subject in a few queries
(:func:`privacy.population.eligible_subjects`); detokenization decides one
subject at a time (:func:`privacy.decide` asking
:func:`privacy.consent_check.check` and :func:`privacy.holds.exempts`). Both must give
the same answer for every state a subject can be in, or the rules drifted.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from privacy import consent_check, decision, holds, subjects
from privacy import purposes as privacy_purposes
from privacy import tables as pt
from privacy.population import eligible_subjects
from tests.consent.conftest import DPO, SERVICE, Clock, call, customer
from tests.erasing import erase_subject

PURPOSES = ("risk_scoring", "marketing", "third_party_sharing", "account_service", "aml_kyc")


@pytest.fixture
def clock(container) -> Clock:
    c = Clock()
    container.consent.clock = c
    container.tokenization.clock = c
    return c


@pytest.fixture
def subjects_in_every_state(container, clock) -> dict[str, str]:
    """Subject id -> what was done to it (for failure messages)."""
    done: dict[str, str] = {}

    def make(sid: str, what: str) -> str:
        customer(container, sid)
        done[sid] = what
        return sid

    make("subject-granted", "risk_scoring and marketing granted")
    call(container, "grant", SERVICE, "subject-granted", "risk_scoring", channel="app")
    call(container, "grant", SERVICE, "subject-granted", "marketing", channel="app")
    make("subject-none", "no consent at all")
    make("subject-withdrawn", "granted, then withdrawn")
    call(container, "grant", SERVICE, "subject-withdrawn", "risk_scoring", channel="app")
    clock.advance(seconds=1)
    call(container, "withdraw", SERVICE, "subject-withdrawn", "risk_scoring", channel="app")
    make("subject-same-instant", "granted and withdrawn with the same effective time: the later record wins")
    at = clock.advance(seconds=1)
    call(container, "grant", SERVICE, "subject-same-instant", "risk_scoring", channel="app", effective_at=at)
    call(
        container, "withdraw", SERVICE, "subject-same-instant", "risk_scoring", channel="app", effective_at=at
    )
    make("subject-expiring", "granted until an hour from now (then the clock moves on)")
    call(
        container,
        "grant",
        SERVICE,
        "subject-expiring",
        "risk_scoring",
        channel="app",
        expires_at=clock.now + dt.timedelta(hours=1),
    )
    make("subject-separate", "separate consents to risk_scoring and third_party_sharing")
    call(container, "grant", SERVICE, "subject-separate", "risk_scoring", channel="app", separate=True)
    call(container, "grant", SERVICE, "subject-separate", "third_party_sharing", channel="app", separate=True)
    make("subject-restricted", "consented, then restricted")
    call(container, "grant", SERVICE, "subject-restricted", "risk_scoring", channel="app")
    make("subject-held", "consented, restricted, with a legal hold for risk_scoring naming the dpo")
    call(container, "grant", SERVICE, "subject-held", "risk_scoring", channel="app")
    call(
        container,
        "place_hold",
        DPO,
        "subject-held",
        reason_code="litigation",
        ends_at=clock.now + dt.timedelta(days=30),
        purpose="risk_scoring",
        roles=["dpo"],
    )
    make("subject-erased", "consented, then erased (its consent records stay)")
    call(container, "grant", SERVICE, "subject-erased", "risk_scoring", channel="app")
    tokenization = container.tokenization
    for sid in ("subject-restricted", "subject-held"):
        with container.uow() as uow:
            tokenization.restrict_subject(uow, "test", sid, "test")
    erase_subject(container, "subject-erased", actor="test")
    # A material notice: marketing consents given before it need a new one.
    make("subject-reconsent", "marketing granted before a material notice")
    call(container, "grant", SERVICE, "subject-reconsent", "marketing", channel="app")
    call(container, "publish_notice", DPO, "marketing", text_zh="新的告知", material=True)
    clock.advance(hours=2)  # s-expiring's consent has expired
    return done


def _one_by_one(session, purpose_code: str, role: str, sensitive: bool, now: dt.datetime, entry) -> set[str]:
    """The subjects the policy decision point lets ``role`` use, asked one at a time."""
    allowed = set()
    ids = list(session.scalars(sa.select(pt.subjects.c.subject_id)))
    states = subjects.states(session, ids)
    for sid in ids:
        kind, state = states[sid]
        if kind != subjects.SUBJECT:
            continue
        verdict = decision.decide(
            role=role,
            client_purposes=frozenset(PURPOSES),
            client_field_types=None,
            purpose_code=purpose_code,
            purpose=entry,
            field_type="cn_mobile",
            pipl_sensitive=sensitive,
            subject_state=state,
            consent=lambda sid=sid: consent_check.check(session, sid, purpose_code, now),
            reveal=decision.Effect.PLAIN,
            restriction_exempt=lambda sid=sid: holds.exempts(session, sid, purpose_code, role, now),
        )
        if verdict.allowed:
            allowed.add(sid)
    return allowed


@pytest.mark.parametrize("purpose_code", PURPOSES)
def test_bulk_and_per_subject_decisions_agree(
    container, clock, subjects_in_every_state, purpose_code
) -> None:
    consent = container.consent
    consent.catalogue.invalidate()
    entry = consent.catalogue.get(purpose_code)  # the decision point's view (its own transaction)
    with container.session_factory() as session:
        purpose = privacy_purposes.require(session, purpose_code)
        for role in ("dpo", "service"):
            for sensitive in (False, True):
                bulk = eligible_subjects(session, purpose, clock.now, role=role, sensitive=sensitive)
                expected = _one_by_one(session, purpose_code, role, sensitive, clock.now, entry)
                assert set(bulk.eligible) == expected, (role, sensitive, subjects_in_every_state)
                assert sum(bulk.excluded.values()) + len(bulk.eligible) == len(subjects_in_every_state)


def test_reasons_are_counted(container, clock, subjects_in_every_state) -> None:
    with container.session_factory() as session:
        risk = privacy_purposes.require(session, "risk_scoring")
        marketing = privacy_purposes.require(session, "marketing")
        plain = eligible_subjects(session, risk, clock.now, role="analyst", sensitive=False)
        sensitive = eligible_subjects(session, risk, clock.now, role="analyst", sensitive=True)
        held = eligible_subjects(session, risk, clock.now, role="dpo", sensitive=False)
        notice = eligible_subjects(session, marketing, clock.now, role="analyst", sensitive=False)
    assert plain.eligible == ("subject-granted", "subject-separate")
    assert plain.excluded == {
        "erased": 1,
        "expired": 1,
        "no_consent": 2,  # s-none, s-reconsent
        "restricted": 2,
        "withdrawn": 2,
    }
    assert sensitive.eligible == ("subject-separate",)
    assert sensitive.excluded["separate_consent_missing"] == 1
    assert (
        "subject-held" in held.eligible and "subject-restricted" not in held.eligible
    )  # the hold names the dpo
    assert notice.eligible == () and notice.excluded["reconsent_required"] == 2
