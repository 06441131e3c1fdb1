"""Detokenize: policy per token, every decision audited, subject states, batched keys."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from fieldtypes.checksums import GB11643, LUHN
from privacy import ConsentVerdict
from tests.erasing import erase_subject
from tests.tokenization.conftest import SERVICE, Caller, detokenize, queued_events, tokenize
from tests.wire import statements, traced
from tokenization.errors import BatchTooLarge, InvalidRequest, NotPermitted
from tokenization.model import TokenizeItem

ID_NUMBER = GB11643.complete("11010519900307123")
CARD = LUHN.complete("622202020011234567")
MOBILE = "13812345678"


@pytest.fixture
def held(container):
    """A customer with a mobile, an ID number and a card; a standalone email."""
    out = tokenize(
        container,
        [
            TokenizeItem("cn_mobile", MOBILE, "cust-0001"),
            TokenizeItem("cn_resident_id", ID_NUMBER, "cust-0001"),
            TokenizeItem("bank_card", CARD, "cust-0001", kind="format_preserving"),
            TokenizeItem("email", "zhang.san@example.com"),
        ],
    ).items
    return [r["token"] for r in out]


def events(container, action="detokenize"):
    return [e for e in map(json.loads, queued_events(container)) if e["action"] == action]


def test_a_service_reads_values_in_plain_or_masked(container, held):
    mobile, id_number, card, email = held
    plain = detokenize(container, "aml_kyc", [mobile, id_number, card])
    assert plain == [
        {"value": MOBILE},
        {"value": ID_NUMBER},
        {"value": CARD},
    ]
    masked = detokenize(container, "account_service", [mobile, email, card], reveal="masked")
    assert masked == [
        {"masked": "138****5678"},
        {"masked": "z***@example.com"},
        {"masked": CARD[:6] + "*********" + CARD[-4:]},
    ]


def test_results_follow_the_request_order_with_duplicates_and_unknown_tokens(container, held):
    mobile = held[0]
    out = detokenize(container, "aml_kyc", ["tok_mob_nothere", mobile, mobile])
    assert out[0] == {"error": "not_found", "reason": "no such token"}
    assert out[1] == out[2] == {"value": MOBILE}


def test_a_dpo_sees_masked_values_only(container, held):
    dpo = Caller(client_id="c-dpo", role="dpo", purposes=frozenset(), field_types=None)
    out = detokenize(container, "aml_kyc", held[:1], caller=dpo)
    assert out == [{"masked": "138****5678"}]
    (event,) = events(container)
    assert event["reason"] == "role sees masked values only" and event["details"]["effect"] == "masked"


@pytest.mark.parametrize("role", ["analyst", "auditor", "admin"])
def test_roles_that_never_detokenize_are_refused_and_audited(container, held, role):
    caller = Caller(client_id="c-x", role=role, purposes=frozenset({"aml_kyc"}))
    with pytest.raises(NotPermitted):
        detokenize(container, "aml_kyc", held, caller=caller)
    (event,) = events(container)
    assert event["outcome"] == "denied" and event["reason"] == "role may not detokenize"
    assert event["actor"] == "client:c-x" and event["details"]["tokens"] == len(held)


def test_a_service_key_cannot_read_another_purpose_or_field_type(container, held):
    mobile, id_number, _, _ = held
    narrow = Caller(
        client_id="c-narrow", purposes=frozenset({"aml_kyc"}), field_types=frozenset({"cn_mobile"})
    )
    out = detokenize(container, "aml_kyc", [mobile, id_number], caller=narrow)
    assert out[0] == {"value": MOBILE}
    assert out[1] == {
        "error": "denied",
        "reason": "field type not allowed for this client",
    }
    out = detokenize(container, "account_service", [mobile], caller=narrow)
    assert out == [{"error": "denied", "reason": "purpose not allowed for this client"}]
    out = detokenize(container, "aml_kyc", [held[3]])  # email is outside aml_kyc
    assert out[0]["reason"] == "field type not covered by the purpose"


def test_purposes_needing_consent_are_denied_for_lack_of_it(container, held):
    out = detokenize(container, "marketing", held[:1])
    assert out == [{"error": "denied", "reason": "no consent"}]
    out = detokenize(container, "marketing", held[3:])  # a standalone token: nobody consented
    assert out[0]["reason"] == "no consent"


def test_the_consent_check_decides_once_it_has_consents(container, svc, held, monkeypatch):
    asked = []

    def consent_check(session, subject_id, purpose, field_type):
        asked.append((subject_id, purpose, field_type))
        return ConsentVerdict(granted=subject_id == "cust-0001", separate=False, reason="test")

    monkeypatch.setattr(svc, "consent_check", consent_check)
    monkeypatch.setattr(svc, "consent_join", None)  # the check itself, not the joined lookup
    out = detokenize(container, "risk_scoring", [held[0], held[0], held[2]])
    assert out[0] == out[1] == {"value": MOBILE}
    assert out[2]["reason"] == "separate consent missing"  # bank cards are PIPL-sensitive
    assert sorted(asked) == [
        ("cust-0001", "risk_scoring", "bank_card"),
        ("cust-0001", "risk_scoring", "cn_mobile"),
    ]


def test_restricted_and_erased_subjects(container, svc, held):
    mobile = held[0]
    with container.uow() as uow:
        svc.restrict_subject(uow, "dpo:test", "cust-0001", "dsr-restriction")
    assert detokenize(container, "aml_kyc", [mobile]) == [{"error": "restricted", "reason": "restricted"}]
    with container.uow() as uow:
        svc.lift_restriction(uow, "dpo:test", "cust-0001", "dsr-closed")
    assert detokenize(container, "aml_kyc", [mobile])[0]["value"] == MOBILE
    assert erase_subject(container, "cust-0001", actor="dpo:test")["action"] == "erased"
    assert detokenize(container, "aml_kyc", held[:3]) == [
        {"error": "erased", "reason": "erased"} for _ in held[:3]
    ]
    with container.uow() as uow:
        assert svc.lookup(uow, SERVICE, "cn_mobile", MOBILE, purpose="account_service") == []
    with container.uow() as uow:
        assert svc.subject_info(uow, SERVICE, "cust-0001")["state"] == "erased"
    erased = [e for e in events(container) if e["reason"] == "erased"]
    assert erased and all(e["outcome"] == "error" for e in erased)


def test_a_shredded_key_reads_as_erased_even_before_the_state_says_so(container, held):
    with container.session_factory() as s:
        container.keyring.shred(s, "cust-0001", "restored-backup")
        s.commit()
    assert detokenize(container, "aml_kyc", held[:1])[0]["error"] == "erased"


def test_every_decision_is_audited_without_values(container, held):
    mobile, id_number, card, email = held
    narrow = Caller(
        client_id="c-narrow", purposes=frozenset({"aml_kyc"}), field_types=frozenset({"cn_mobile"})
    )
    detokenize(container, "aml_kyc", [mobile, id_number, card, email, "tok_x_nothere"], caller=narrow)
    got = sorted(
        (e["subject_id"] or "", e["outcome"], e["reason"], e["details"]["tokens"]) for e in events(container)
    )
    std_owner = next(e["subject_id"] for e in events(container) if (e["subject_id"] or "").startswith("std_"))
    assert got == sorted(
        [
            ("cust-0001", "success", "allowed", 1),
            ("cust-0001", "denied", "field type not allowed for this client", 2),
            (std_owner, "denied", "field type not allowed for this client", 1),
            ("", "error", "not_found", 1),
        ]
    )
    for event in events(container):
        assert event["purpose"] == "aml_kyc" and event["request_id"] is None
    text = "\n".join(queued_events(container))
    assert not any(v in text for v in (MOBILE, ID_NUMBER, CARD, "zhang.san"))


def test_an_unknown_purpose_is_denied_and_not_copied_into_the_log(container, held):
    out = detokenize(container, MOBILE, held[:1])  # a careless client puts a value in the purpose
    assert out[0]["reason"] == "unknown purpose"
    (event,) = events(container)
    assert event["purpose"] is None and MOBILE not in json.dumps(event)


def test_keys_for_many_subjects_come_in_one_unwrap_call(container, vault_calls):
    out = tokenize(container, [TokenizeItem("name", "张三", f"cust-{i:04d}") for i in range(300)]).items
    container.keyring.cache.clear()
    vault_calls.update(wrap=0, unwrap=0)
    values = detokenize(container, "account_service", [r["token"] for r in out])
    assert all(v["value"] == "张三" for v in values)
    assert vault_calls == {"wrap": 0, "unwrap": 1}


def test_bad_requests(container, held):
    with pytest.raises(BatchTooLarge):
        detokenize(container, "aml_kyc", held[:1] * 1001)
    with pytest.raises(InvalidRequest):
        detokenize(container, "aml_kyc", held[:1], reveal="deny")
    assert detokenize(container, "aml_kyc", []) == []


def test_a_grouped_detokenize_reads_in_one_statement_outside_any_transaction(container, backend, held):
    """Issue 22: on PostgreSQL with group commit, the token's row, its owner's state and stored key
    come in one statement on a connection of the read-only pool, run on the driver itself
    (piivault.direct): no BEGIN, no COMMIT, and the unit of work's session takes no connection.
    The audit event goes with group commit."""
    if backend != "postgresql" or container.read_only_engine is None:
        pytest.skip("group commit and its read-only pool are PostgreSQL's")
    mobile = held[0]
    with container.uow(read_only=True) as uow:  # the read-only pool connects: its isolation known
        container.tokenization.detokenize(uow, SERVICE, "aml_kyc", [mobile])
    began: list[object] = []
    with traced(container.read_only_engine) as wire, container.uow(read_only=True) as uow:
        sa.event.listen(uow.session, "after_begin", lambda *_args: began.append(1))
        got = container.tokenization.detokenize(uow, SERVICE, "aml_kyc", [mobile])
    assert got == [{"value": MOBILE}]
    assert began == []  # the session took no connection
    assert wire.autocommit == [True]  # one checkout: the read's
    assert wire.executions() == 1 and wire.queries() == []
    assert wire.transaction_states() == {"I"}
    assert [e["outcome"] for e in events(container)] == ["success", "success"]  # the warm-up's, this one's


def test_a_transactional_detokenize_reads_on_its_own_sessions_connection(container, backend, held):
    """Without group commit (or for a unit of work that writes), once the unit of work has begun,
    the token read runs on its connection, in its transaction: one connection from the pool, not
    a second one beside the session's (a session that read first would hold one while waiting
    for another)."""
    if backend != "postgresql":
        pytest.skip("the driver's own read is psycopg's")
    # Events left queued: no sequencer after the commit, whose connections would count here.
    container.settings = container.settings.replace(audit_sequence_inline=False)
    detokenize(container, "aml_kyc", held[1:2])  # the purpose catalogue, read once on first use
    with traced(container.engine) as wire, container.uow() as uow:
        uow.session.execute(sa.select(sa.literal(1)))  # the session holds its connection now
        got = container.tokenization.detokenize(uow, SERVICE, "aml_kyc", held[:1])
    assert got == [{"value": MOBILE}]
    assert wire.autocommit == [False]  # one checkout: the session's
    assert wire.queries() == ["BEGIN", "COMMIT"]  # the read and the audit event between them


def test_a_transactional_detokenize_that_has_begun_nothing_reads_in_autocommit(container, backend, held):
    """Without group commit, a unit of work that has begun nothing reads as a tokenize does: on a
    connection of its own in autocommit (at READ COMMITTED a read in the transaction would see
    no more), then writes its audit event in a transaction, committed before the value leaves."""
    if backend != "postgresql":
        pytest.skip("the driver's own read is psycopg's")
    container.settings = container.settings.replace(audit_sequence_inline=False)
    detokenize(container, "aml_kyc", held[1:2])  # the purpose catalogue, read once on first use
    before = len(events(container))
    with traced(container.engine) as wire, statements(container.engine) as seen, container.uow() as uow:
        got = container.tokenization.detokenize(uow, SERVICE, "aml_kyc", held[:1])
    assert got == [{"value": MOBILE}]
    assert wire.autocommit == [False, False]  # the read's connection, then the session's
    assert [by for by, _ in seen] == ["driver", "core"]  # the token read, the audit insert
    assert wire.queries() == ["BEGIN", "COMMIT"]  # around the audit insert only
    assert [e["outcome"] for e in events(container)[before:]] == ["success"]
