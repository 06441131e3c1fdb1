"""The policy decision point and the purpose catalogue (no database)."""

from __future__ import annotations

import json

import pytest

from fieldtypes import default_registry
from piivault.errors import ConfigurationError
from privacy import (
    DEFAULT_PURPOSES,
    ConsentVerdict,
    Effect,
    LegalBasis,
    PurposeCatalogue,
    Reason,
    decide,
    load_purposes,
)
from privacy.consent_check import NO_CONSENT

CATALOGUE = PurposeCatalogue(DEFAULT_PURPOSES)
ALL_PURPOSES = frozenset(CATALOGUE.codes())
GRANTED = ConsentVerdict(granted=True, separate=True, reason="granted")
GRANTED_NOT_SEPARATELY = ConsentVerdict(granted=True, separate=False, reason="granted")


def no_consent() -> ConsentVerdict:
    return NO_CONSENT


def run(**overrides):
    args = {
        "role": "service",
        "client_purposes": ALL_PURPOSES,
        "client_field_types": None,
        "purpose_code": "aml_kyc",
        "field_type": "cn_mobile",
        "pipl_sensitive": False,
        "subject_state": "active",
        "consent": no_consent,
        "reveal": Effect.PLAIN,
    }
    args.update(overrides)
    args["purpose"] = CATALOGUE.get(args["purpose_code"])
    return decide(**args)


def test_the_default_catalogue_is_a_banks():
    assert set(CATALOGUE.codes()) == {
        "account_service",
        "aml_kyc",
        "risk_scoring",
        "marketing",
        "third_party_sharing",
    }
    account, aml, risk = (
        CATALOGUE.get("account_service"),
        CATALOGUE.get("aml_kyc"),
        CATALOGUE.get("risk_scoring"),
    )
    assert account.legal_basis is LegalBasis.CONTRACT and not account.consent_required
    assert aml.legal_basis is LegalBasis.LEGAL_OBLIGATION and not aml.consent_required
    assert aml.retention == "5 years after the relationship ends"
    assert risk.consent_required and CATALOGUE.get("marketing").consent_required
    sharing = CATALOGUE.get("third_party_sharing")
    assert sharing.consent_required and sharing.separate_consent_required


@pytest.mark.parametrize(
    ("role", "effect", "reason"),
    [
        ("service", Effect.PLAIN, Reason.ALLOWED),
        ("dpo", Effect.MASKED, Reason.MASKED_FOR_ROLE),
        ("analyst", Effect.DENY, Reason.ROLE),
        ("auditor", Effect.DENY, Reason.ROLE),
        ("admin", Effect.DENY, Reason.ROLE),
        ("stranger", Effect.DENY, Reason.ROLE),
    ],
)
def test_roles(role, effect, reason):
    decision = run(role=role)
    assert (decision.effect, decision.reason) == (effect, reason)


def test_a_dpo_is_not_bound_to_purposes_on_a_key_but_to_everything_else():
    assert run(role="dpo", client_purposes=frozenset()).effect is Effect.MASKED
    assert run(role="dpo", purpose_code="fortune_telling").reason is Reason.UNKNOWN_PURPOSE
    assert run(role="dpo", field_type="email").reason is Reason.OUTSIDE_PURPOSE
    assert run(role="dpo", purpose_code="marketing").reason is Reason.NO_CONSENT
    assert run(role="dpo", subject_state="restricted").reason is Reason.RESTRICTED


def test_masked_on_request():
    decision = run(reveal=Effect.MASKED)
    assert decision.effect is Effect.MASKED and decision.allowed and decision.outcome == "success"


@pytest.mark.parametrize(
    ("overrides", "reason", "error"),
    [
        ({"purpose_code": "fortune_telling"}, Reason.UNKNOWN_PURPOSE, "denied"),
        ({"client_purposes": frozenset({"marketing"})}, Reason.PURPOSE_NOT_ALLOWED, "denied"),
        ({"client_field_types": frozenset({"name"})}, Reason.FIELD_TYPE_NOT_ALLOWED, "denied"),
        ({"field_type": "email"}, Reason.OUTSIDE_PURPOSE, "denied"),
        ({"subject_state": "restricted"}, Reason.RESTRICTED, "restricted"),
        ({"subject_state": "erased"}, Reason.ERASED, "erased"),
        ({"purpose_code": "marketing"}, Reason.NO_CONSENT, "denied"),
        ({"purpose_code": "risk_scoring"}, Reason.NO_CONSENT, "denied"),
    ],
)
def test_denials_say_why(overrides, reason, error):
    decision = run(**overrides)
    assert decision.effect is Effect.DENY
    assert decision.reason is reason
    assert decision.error == error
    assert decision.outcome == ("error" if reason is Reason.ERASED else "denied")


def test_a_service_key_cannot_read_another_purpose_or_field_type():
    key = {"client_purposes": frozenset({"aml_kyc"}), "client_field_types": frozenset({"cn_mobile"})}
    assert run(**key).allowed
    assert run(**key, purpose_code="account_service").reason is Reason.PURPOSE_NOT_ALLOWED
    assert run(**key, field_type="name").reason is Reason.FIELD_TYPE_NOT_ALLOWED


def test_consent_is_asked_only_when_the_purpose_needs_it():
    asked = []

    def consent():
        asked.append(1)
        return GRANTED

    assert run(consent=consent).allowed  # aml_kyc: legal obligation
    assert asked == []
    assert run(purpose_code="marketing", consent=consent).allowed
    assert asked == [1]


def test_without_consent_every_consent_purpose_is_denied():
    # consent_check itself reads the consent tables: tests/consent cover it.
    assert ConsentVerdict(False, False, "no consent") == NO_CONSENT
    for purpose in CATALOGUE:
        field_type = "name"
        decision = run(purpose_code=purpose.code, field_type=field_type)
        assert decision.allowed is not purpose.consent_required
        if purpose.consent_required:
            assert decision.reason is Reason.NO_CONSENT


def test_separate_consent_for_sharing_and_for_sensitive_field_types():
    assert run(purpose_code="marketing", consent=lambda: GRANTED_NOT_SEPARATELY).allowed
    sharing = run(
        purpose_code="third_party_sharing", field_type="name", consent=lambda: GRANTED_NOT_SEPARATELY
    )
    assert sharing.reason is Reason.NO_SEPARATE_CONSENT
    sensitive = run(
        purpose_code="risk_scoring",
        field_type="bank_card",
        pipl_sensitive=True,
        consent=lambda: GRANTED_NOT_SEPARATELY,
    )
    assert sensitive.reason is Reason.NO_SEPARATE_CONSENT
    assert run(
        purpose_code="risk_scoring", field_type="bank_card", pipl_sensitive=True, consent=lambda: GRANTED
    ).allowed


def test_a_restricted_subject_is_denied_even_with_consent():
    assert (
        run(purpose_code="marketing", subject_state="restricted", consent=lambda: GRANTED).reason
        is Reason.RESTRICTED
    )


def test_purposes_load_from_yaml(tmp_path):
    path = tmp_path / "purposes.yaml"
    path.write_text(
        "purposes:\n"
        "  - code: loan_servicing\n"
        "    legal_basis: contract\n"
        "    field_types: [name, cn_mobile]\n"
        "    retention: 3 years after the loan is repaid\n"
        "  - code: surveys\n"
        "    legal_basis: consent\n"
        "    retention: until withdrawn\n",
        encoding="utf-8",
    )
    catalogue = load_purposes(path, field_types=default_registry())
    assert catalogue.codes() == ("loan_servicing", "surveys")
    loan = catalogue.get("loan_servicing")
    assert not loan.consent_required and loan.covers("name") and not loan.covers("email")
    surveys = catalogue.get("surveys")
    assert surveys.consent_required and surveys.field_types is None and surveys.covers("email")


def test_purposes_load_from_json(tmp_path):
    path = tmp_path / "purposes.json"
    body = {"purposes": [{"code": "fraud", "legal_basis": "legal_obligation", "retention": "5 years"}]}
    path.write_text(json.dumps(body), encoding="utf-8")
    assert load_purposes(path).codes() == ("fraud",)


def test_no_file_means_the_defaults():
    assert load_purposes(None).codes() == CATALOGUE.codes()


BASE = {"code": "x_purpose", "legal_basis": "contract", "retention": "1 year"}


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({**BASE, "colour": "red"}, "purposes[0].colour"),
        ({**BASE, "legal_basis": "whim"}, "purposes[0].legal_basis"),
        ({**BASE, "legal_basis": "consent", "consent_required": False}, "purposes[0]"),
        ({**BASE, "separate_consent_required": True}, "purposes[0]"),
        ({**BASE, "field_types": ["no_such_type"]}, "purposes[0].field_types"),
        ({**BASE, "field_types": "some"}, "purposes[0].field_types"),
        ({**BASE, "retention": " "}, "purposes[0].retention"),
        ({**BASE, "consent_required": "yes"}, "purposes[0].consent_required"),
        ({k: v for k, v in BASE.items() if k != "retention"}, "purposes[0].retention"),
        ({**BASE, "code": "Bad Code"}, "purposes[0]"),
    ],
)
def test_a_bad_catalogue_names_the_key(entry, where):
    with pytest.raises(ConfigurationError) as e:
        load_purposes({"purposes": [entry]}, field_types=default_registry())
    assert e.value.message.startswith(where)


def test_a_catalogue_needs_its_one_key_and_unique_codes():
    with pytest.raises(ConfigurationError):
        load_purposes({"purposes": []})
    with pytest.raises(ConfigurationError):
        load_purposes({"purposes": [BASE], "extra": 1})
    with pytest.raises(ConfigurationError, match="twice"):
        load_purposes({"purposes": [BASE, BASE]})
