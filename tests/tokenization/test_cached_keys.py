"""A tokenize's write checks what was read or cached before it: each subject in the state read,
its row locked (so an erasure under way is waited for), and, for a tokenize whose keys are all in
the data-key cache and so read nothing first (issue 22), each key stored under its id. A check
that fails writes nothing, and the request reads everything and goes again.

The cache is per process: another process's erasure, restriction or new key leaves this one's
entries as they were. These tests put such an entry back after the change, as that process would
still hold it, and check that no token is sealed under it, for a subject that may not take one.
On SQLite the request reads first as before; the answers are the same on both.
"""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from consent import erasure
from piivault.db import utcnow
from privacy import subjects
from privacy import tables as pt
from tests.erasing import blocked_by, connection_pid, erase_subject
from tests.tokenization.conftest import SERVICE, detokenize, queued_events, tokenize
from tests.wire import statements
from tokenization import tables as t
from tokenization.model import TokenizeItem
from tokenization.tokenize import BLIND_INDEX_KEY
from vault import DataKey, subject_owner, system_owner
from vault import tables as vt

MOBILE, OTHER = "13812345678", "13900001111"
SUBJECT = "cust-0001"


def _tokens_of(container, subject_id: str) -> list[str]:
    with container.engine.connect() as conn:
        return list(conn.scalars(sa.select(t.tokens.c.token).where(t.tokens.c.subject_id == subject_id)))


def _warm(container) -> str:
    """Tokenize a first value of SUBJECT: its key and the tokenization secrets are now cached."""
    (first,) = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, SUBJECT)]).items
    assert container.keyring.cache.get(subject_owner(SUBJECT)) is not None
    return first["token"]


def _guarded_first(seen, backend) -> bool:
    """Whether the request's first statement was the guarded write (PostgreSQL), read nothing first."""
    return backend != "postgresql" or (seen[0][1].startswith("WITH") and "FOR SHARE" in seen[0][1])


def test_a_subject_erased_elsewhere_takes_no_token_under_a_key_still_cached(container, backend):
    _warm(container)
    held = container.keyring.cache.get(subject_owner(SUBJECT))
    erase_subject(container, SUBJECT)  # evicts the key here; another process would still hold it
    container.keyring.cache.put(held)
    before = queued_events(container)
    with statements(container.engine) as seen:
        (out,) = tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT)]).items
    assert _guarded_first(seen, backend)
    assert out["error"]["rule"] == "subject_erased"
    assert _tokens_of(container, SUBJECT) == []
    (event,) = [e for e in queued_events(container) if e not in before]  # the request's, once
    assert '"rejected":1' in event and '"tokens":0' in event


def test_a_subject_restricted_elsewhere_takes_no_new_data_beside_one_that_does(container, backend):
    """Two subjects with their keys cached, one restricted since: the write's check is on every
    subject (a check of any one, or of the first, would let both through), and fails; the
    request reads the states and writes for the active one alone, audited once."""
    restricted_id = "cust-0002"  # sorts after SUBJECT: the check's last subject
    _warm(container)
    (first,) = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, restricted_id)]).items
    with container.uow() as uow:
        subjects.set_state(uow.session, restricted_id, subjects.RESTRICTED, container.consent.clock())
        uow.commit()
    assert container.keyring.cache.get(subject_owner(restricted_id)) is not None  # restriction evicts nothing
    before = queued_events(container)
    items = [TokenizeItem("cn_mobile", OTHER, restricted_id), TokenizeItem("cn_mobile", OTHER, SUBJECT)]
    with statements(container.engine) as seen:
        restricted, active = tokenize(container, items).items
    assert _guarded_first(seen, backend)
    assert restricted["error"]["rule"] == "restricted"
    assert _tokens_of(container, restricted_id) == [first["token"]]
    assert active["token"] in _tokens_of(container, SUBJECT)
    events = [json.loads(e) for e in queued_events(container) if e not in before]
    assert sorted((e["action"], e.get("subject_id") or "") for e in events) == [
        ("tokenize", ""),  # the request's
        ("tokenize", SUBJECT),
    ]


@pytest.mark.parametrize("stale", ["subject", "blind-index"])
def test_a_key_the_cache_holds_but_the_database_does_not_seals_nothing(container, backend, stale):
    """A cached key whose id is no longer stored (the owner's key replaced elsewhere, or a stale
    entry): the guarded write fails, the request reads the stored key and seals under it."""
    _warm(container)
    owner = subject_owner(SUBJECT) if stale == "subject" else system_owner(BLIND_INDEX_KEY)
    stored = container.keyring.cache.get(owner)
    container.keyring.cache.put(DataKey.generate(owner))  # another key id, other material
    with statements(container.engine) as seen:
        (out,) = tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT)]).items
    assert container.keyring.cache.get(owner).key_id == stored.key_id  # read again, cached again
    if backend == "postgresql":  # the guarded write, then the usual read and write
        assert [sql.split()[0] for _, sql in seen] == ["WITH", "SELECT", "WITH"]
    # Sealed under the stored subject key, indexed under the stored blind-index key:
    (shown,) = detokenize(container, "aml_kyc", [out["token"]])
    assert shown["value"] == OTHER
    with container.uow() as uow:
        found = container.tokenization.lookup(uow, SERVICE, "cn_mobile", OTHER, purpose="account_service")
        uow.commit()
    assert [item["token"] for item in found] == [out["token"]]


@pytest.mark.parametrize("way", ["keys-cached", "keys-read", "in-a-transaction"])
def test_a_tokenize_waits_for_an_erasure_in_progress_and_then_takes_no_token(container, backend, way):
    """The race the check's row lock closes: an erasure has marked the subject erased, shredded
    its key and deleted its tokens, not yet committed, when a tokenize writes for it. Read at its
    snapshot alone, the subject is still active and its key still stored: the token would be
    inserted beside the erasure and outlive it, its blind index with it. Locked, the write waits
    for the erasure, then sees the subject erased and writes nothing; the request answers
    ``subject_erased``. Whether the keys came from the cache, from a read in autocommit before
    the write, or the write is in a transaction (a deterministic token reads the tokens that
    exist first), where the check is a statement of its own before the insert."""
    if backend != "postgresql":
        pytest.skip("the check is PostgreSQL's; a SQLite transaction holds the database's write lock")
    _warm(container)
    held = container.keyring.cache.get(subject_owner(SUBJECT))
    kind = "deterministic" if way == "in-a-transaction" else "random"
    answers: list = []
    with container.uow() as uow:
        deps, now = container.consent.erasure_deps, container.consent.clock()
        erasure.erase(deps, uow.session, uow, SUBJECT, dsr_id=None, actor="dpo:test", now=now)
        if way == "keys-cached":
            container.keyring.cache.put(held)  # evicted by the shred here; another process holds it still
        erasing = connection_pid(uow.session.connection())
        writer = threading.Thread(
            target=lambda: answers.append(
                tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT, kind=kind)])
            )
        )
        writer.start()
        waited = blocked_by(container, erasing, writer)
        uow.commit()
    writer.join(timeout=60)
    assert waited, "the tokenize did not wait for the erasure in progress"
    (out,) = answers[0].items
    assert out["error"]["rule"] == "subject_erased"
    assert _tokens_of(container, SUBJECT) == []


# The erasure's half: it marks the subject erased before it deletes the key and the tokens
# (consent/erasure.py), so a writer that locked the subject's row first is waited for, and what
# it wrote is deleted. Here the writer is a transaction doing what a tokenize's does.


def test_an_erasure_waits_for_a_tokenize_that_checked_first_and_deletes_its_token(container, backend):
    if backend != "postgresql":
        pytest.skip("the check is PostgreSQL's; a SQLite transaction holds the database's write lock")
    _warm(container)
    with container.engine.connect() as writer:
        check, params = subjects.states_still({SUBJECT: subjects.ACTIVE})
        assert writer.exec_driver_sql(f"SELECT {check}", tuple(params)).scalar() is True
        writer.execute(t.tokens.insert().values(_token_row("tok_mob_writtenwhileerasing")))
        waited = _erased_while(container, writer, SUBJECT)
    assert waited, "the erasure did not wait for the writer that locked the subject first"
    assert _tokens_of(container, SUBJECT) == []


def test_an_erasure_waits_for_a_tokenize_creating_the_subject_and_shreds_its_key(container, backend):
    """A subject that tokenization does not know yet (consent may): a tokenize creating it
    (its row, its key, its token) before the erasure commits has all three deleted, not the
    key left behind under a certificate that says it was shredded."""
    if backend != "postgresql":
        pytest.skip("a SQLite transaction holds the database's write lock")
    _warm(container)  # the tokenization secrets exist
    subject_id = "cust-0077"
    with container.engine.connect() as writer:
        writer.execute(
            sa.insert(pt.subjects).values(
                subject_id=subject_id, kind=subjects.SUBJECT, state=subjects.ACTIVE, created_at=utcnow()
            )
        )
        key = DataKey.generate(subject_owner(subject_id))
        writer.execute(
            sa.insert(vt.data_keys).values(
                owner=key.owner,
                key_id=key.key_id,
                wrapped_dek="vault:v1:x",
                kek_version=1,
                created_at=utcnow(),
            )
        )
        writer.execute(t.tokens.insert().values(_token_row("tok_mob_createdwhileerasing", subject_id)))
        waited = _erased_while(container, writer, subject_id)
    assert waited, "the erasure did not wait for the writer creating the subject"
    assert _tokens_of(container, subject_id) == []
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(vt.data_keys.c.owner).where(vt.data_keys.c.owner == key.owner)) is None
        state = conn.scalar(sa.select(pt.subjects.c.state).where(pt.subjects.c.subject_id == subject_id))
    assert state == subjects.ERASED


def _erased_while(container, writer, subject_id: str) -> bool:
    """Erase ``subject_id`` in a thread while ``writer``'s transaction is open, then commit it
    and let the erasure finish; whether the erasure waited for the writer."""
    eraser = threading.Thread(target=erase_subject, args=(container, subject_id))
    eraser.start()
    waited = blocked_by(container, connection_pid(writer), eraser)
    writer.commit()
    eraser.join(timeout=60)
    return waited


def _token_row(token: str, subject_id: str = SUBJECT) -> dict:
    return {
        "token": token,
        "kind": "random",
        "field_type": "cn_mobile",
        "subject_id": subject_id,
        "sealed": b"sealed",
        "blind_index": bytes(32),
        "created_at": utcnow(),
    }
