"""The policy decision point with real consent verdicts and hold exemptions (no database)."""

from __future__ import annotations

import datetime as dt

import pytest

from privacy import DEFAULT_PURPOSES, Effect, PurposeCatalogue, Reason, consent_check, decide

CATALOGUE = PurposeCatalogue(DEFAULT_PURPOSES)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def run(
    purpose="marketing",
    state="active",
    verdict=consent_check.GRANTED,
    exempt=None,
    role="service",
    field="name",
):
    return decide(
        role=role,
        client_purposes=frozenset(CATALOGUE.codes()),
        client_field_types=None,
        purpose_code=purpose,
        purpose=CATALOGUE.get(purpose),
        field_type=field,
        pipl_sensitive=field == "bank_card",
        subject_state=state,
        consent=lambda: verdict,
        reveal=Effect.PLAIN,
        **({} if exempt is None else {"restriction_exempt": exempt}),
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("grant", 1, None, False, 1, False), "granted"),
        (("renew", 2, NOW + dt.timedelta(days=1), True, 1, False), "granted"),
        (("grant", 1, NOW, False, 1, False), "expired"),  # expiry is exclusive
        (("expire", None, None, False, 1, False), "expired"),
        (("withdraw", 1, None, False, 1, False), "withdrawn"),
        (("grant", 1, None, False, 2, False), "reconsent required"),
        (("grant", 1, None, False, 2, True), "granted"),  # counts meanwhile
    ],
)
def test_verdicts(row, reason):
    assert consent_check.verdict(*row, NOW).reason == reason


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (consent_check.NO_CONSENT, Reason.NO_CONSENT),
        (consent_check.EXPIRED, Reason.EXPIRED),
        (consent_check.WITHDRAWN, Reason.WITHDRAWN),
        (consent_check.RECONSENT, Reason.RECONSENT_REQUIRED),
    ],
)
def test_the_decision_says_why_consent_does_not_count(verdict, reason):
    decision = run(verdict=verdict)
    assert (decision.effect, decision.reason) == (Effect.DENY, reason)


def test_separate_consent_missing():
    assert run(purpose="risk_scoring", field="bank_card").reason.value == "separate consent missing"
    assert run(purpose="risk_scoring", field="bank_card", verdict=consent_check.GRANTED_SEPARATELY).allowed


def test_a_hold_lets_its_own_purpose_through_a_restriction_only():
    asked = []

    def exempt():
        asked.append(1)
        return True

    assert run(purpose="aml_kyc", state="restricted", exempt=exempt).allowed
    assert run(purpose="aml_kyc", state="restricted").reason is Reason.RESTRICTED  # no hold
    assert run(purpose="aml_kyc", state="active", exempt=exempt).allowed
    assert asked == [1]  # asked for the restricted subject only
    # Exempted from the restriction, not from consent.
    withdrawn = run(state="restricted", exempt=lambda: True, verdict=consent_check.WITHDRAWN)
    assert withdrawn.reason is Reason.WITHDRAWN
