"""Erasure keeps tombstones, not tokens: every erasure path answers "erased" for the tokens.

The one erasure use case (consent.erasure.erase, here through tests.erasing.erase_subject), a
data-subject request's shred (consent.erasure.shred_now, used by immediate and scheduled
erasures) and the replay after a restore all delete the token rows, with their sealed values and
blind indexes, and keep a keyed digest per token.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import sqlalchemy as sa

from consent import erasure
from fieldtypes.checksums import LUHN
from piivault.db import utcnow
from tests.erasing import erase_subject
from tests.tokenization.conftest import SERVICE, Caller, detokenize, queued_events, tokenize
from tokenization import tables as t
from tokenization.model import TokenizeItem

MOBILE = "13812345678"
CARD = LUHN.complete("622202020011234567")
ERASED = {"error": "erased", "reason": "erased"}


@pytest.fixture
def held(container) -> list[str]:
    """cust-0001's mobile (deterministic), card (format-preserving) and name; cust-0002's mobile."""
    out = tokenize(
        container,
        [
            TokenizeItem("cn_mobile", MOBILE, "cust-0001", kind="deterministic"),
            TokenizeItem("bank_card", CARD, "cust-0001", kind="format_preserving"),
            TokenizeItem("name", "张三", "cust-0001"),
            TokenizeItem("cn_mobile", MOBILE, "cust-0002"),
        ],
    ).items
    return [r["token"] for r in out]


def _token_rows(container, subject_id: str) -> list:
    with container.session_factory() as s:
        return s.execute(sa.select(t.tokens).where(t.tokens.c.subject_id == subject_id)).all()


def _tombstones(container) -> list:
    with container.session_factory() as s:
        return s.execute(sa.select(t.erased_tokens)).all()


def _assert_erased(container, held: list[str]) -> None:
    assert _token_rows(container, "cust-0001") == []  # sealed values and blind indexes went with them
    stones = _tombstones(container)
    assert sorted(s.field_type for s in stones) == ["bank_card", "cn_mobile", "name"]
    assert {s.subject_id for s in stones} == {"cust-0001"}
    for stone in stones:
        # A keyed digest: neither the token nor a plain hash anyone could compute from a guess.
        assert len(stone.token_digest) == 32
        assert all(stone.token_digest != hashlib.sha256(tok.encode()).digest() for tok in held)
        assert all(tok.encode() not in stone.token_digest for tok in held)
    out = detokenize(container, "aml_kyc", [*held, "tok_mob_nothere"])
    assert out[:3] == [ERASED] * 3
    assert out[3] == {"value": MOBILE}  # another subject holding the same value is untouched
    assert out[4] == {"error": "not_found", "reason": "no such token"}
    with container.uow() as uow:
        found = container.tokenization.lookup(uow, SERVICE, "cn_mobile", MOBILE, purpose="account_service")
        assert found == [{"token": held[3], "kind": "random", "subject_id": "cust-0002"}]
    denied = [
        json.loads(p)
        for p in queued_events(container)
        if '"action":"detokenize"' in p and '"reason":"erased"' in p
    ]
    assert [(e["subject_id"], e["outcome"], e["details"]["tokens"]) for e in denied] == [
        ("cust-0001", "error", 3)
    ]
    text = "\n".join(queued_events(container))
    assert MOBILE not in text and CARD not in text


def test_the_erasure_use_case_keeps_tombstones_and_is_idempotent(container, svc, held):
    assert erase_subject(container, "cust-0001")["action"] == "erased"
    _assert_erased(container, held)
    # Again: nothing left to delete, the tombstones stay.
    again = erase_subject(container, "cust-0001")
    assert again == {"action": "erased", "certificate_id": None, "already": True}
    assert len(_tombstones(container)) == 3
    with container.uow() as uow:
        assert svc.subject_info(uow, SERVICE, "cust-0001")["token_count"] == 0


def test_a_data_subject_request_erasure_answers_erased_as_well(container, held):
    consent = container.consent
    with container.uow() as uow:
        certificate = erasure.shred_now(
            consent.erasure_deps, uow.session, uow, "cust-0001", dsr_id=None, actor="dpo:test", now=utcnow()
        )
        uow.commit()
    assert certificate
    _assert_erased(container, held)


def test_a_restored_backup_becomes_tombstones_on_replay(container, svc, held):
    # What `piivault keys replay-erasures` does when a backup brought cust-0001 back.
    with container.session_factory() as s:
        container.keyring.shred(s, "cust-0001", "dsr-erasure")
        assert svc.forget_erased(s, ["cust-0001"]) == 3
        s.commit()
    _assert_erased(container, held)


def test_purpose_checks_come_first_for_erased_tokens_too(container, svc, held):
    erase_subject(container, "cust-0001", actor="dpo:test")
    narrow = Caller(client_id="c-narrow", purposes=frozenset({"marketing"}))
    out = detokenize(container, "aml_kyc", held[:1], caller=narrow)
    assert out == [{"error": "denied", "reason": "purpose not allowed for this client"}]
