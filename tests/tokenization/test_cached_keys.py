"""A tokenize whose keys are all in the data-key cache reads nothing before it writes (issue 22):
its write checks what the cache held (the subjects active, each key stored under its id), and a
check that fails writes nothing, so the request reads everything and goes the usual way.

The cache is per process: another process's erasure, restriction or new key leaves this one's
entries as they were. These tests put such an entry back after the change, as that process would
still hold it, and check that no token is sealed under it, for a subject that may not take one.
On SQLite the request reads first as before; the answers are the same on both.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from consent import erasure
from privacy import subjects
from tests.erasing import erase_subject
from tests.tokenization.conftest import SERVICE, detokenize, queued_events, tokenize
from tests.wire import statements
from tokenization import tables as t
from tokenization.model import TokenizeItem
from tokenization.tokenize import BLIND_INDEX_KEY
from vault import DataKey, subject_owner, system_owner

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


def test_a_subject_erased_elsewhere_takes_no_token_under_a_key_still_cached(container):
    _warm(container)
    held = container.keyring.cache.get(subject_owner(SUBJECT))
    erase_subject(container, SUBJECT)  # evicts the key here; another process would still hold it
    container.keyring.cache.put(held)
    before = queued_events(container)
    (out,) = tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT)]).items
    assert out["error"]["rule"] == "subject_erased"
    assert _tokens_of(container, SUBJECT) == []
    (event,) = [e for e in queued_events(container) if e not in before]  # the request's, once
    assert '"rejected":1' in event and '"tokens":0' in event


def test_a_subject_restricted_elsewhere_takes_no_new_data_under_a_key_still_cached(container):
    first = _warm(container)
    with container.uow() as uow:
        subjects.set_state(uow.session, SUBJECT, subjects.RESTRICTED, container.consent.clock())
        uow.commit()
    assert container.keyring.cache.get(subject_owner(SUBJECT)) is not None  # restriction evicts nothing
    (out,) = tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT)]).items
    assert out["error"]["rule"] == "restricted"
    assert _tokens_of(container, SUBJECT) == [first]


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


def test_a_cached_tokenize_waits_for_an_erasure_in_progress_and_then_takes_no_token(container, backend):
    """The race the guard's row lock closes: an erasure has shredded the key and deleted the
    subject's tokens, not yet committed, when a tokenize with the key cached writes. Read at its
    snapshot alone, the subject is still active and the key still stored: the token would be
    inserted beside the erasure and outlive it. Locked, the write waits for the erasure, then sees
    the subject erased and writes nothing; the request answers ``subject_erased``."""
    if backend != "postgresql":
        pytest.skip("on SQLite a transaction holds the database's write lock: there is no race")
    _warm(container)
    held = container.keyring.cache.get(subject_owner(SUBJECT))
    answers: list = []
    with container.uow() as uow:
        consent = container.consent
        erasure.erase(
            consent.erasure_deps,
            uow.session,
            uow,
            SUBJECT,
            dsr_id=None,
            actor="dpo:test",
            now=consent.clock(),
        )
        container.keyring.cache.put(held)  # evicted by the shred here; another process holds it still
        writer = threading.Thread(
            target=lambda: answers.append(tokenize(container, [TokenizeItem("cn_mobile", OTHER, SUBJECT)]))
        )
        writer.start()
        waited = _waits_for_a_lock(container, writer)
        uow.commit()
    writer.join(timeout=60)
    assert waited, "the tokenize did not wait for the erasure in progress"
    (out,) = answers[0].items
    assert out["error"]["rule"] == "subject_erased"
    assert _tokens_of(container, SUBJECT) == []


def _waits_for_a_lock(container, writer: threading.Thread) -> bool:
    """Whether a backend of ``container``'s database waits for a lock while ``writer`` runs."""
    with container.engine.connect() as conn:
        while writer.is_alive():
            waiting = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar_one()
            conn.rollback()
            if waiting:
                return True
            time.sleep(0.01)
    return False
