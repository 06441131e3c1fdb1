"""Subjects (customers) and the internal owners of standalone tokens, in the database.

A subject is created explicitly or on its first tokenization; its data key is
created with it. Its state is ``active``, ``restricted`` (PIPL art. 44: kept,
not used) or ``erased`` (its data key shredded: every sealed value is noise).
The functions here run inside the caller's transaction and audit nothing;
:class:`tokenization.service.TokenizationService` wraps them in use cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.sql import insert_ignoring_conflicts, select_in
from tokenization import tables as t
from tokenization.model import MAX_BATCH
from tokenization.tokens import TOMBSTONE_KEY, erased_token_digest
from vault import Keyring, system_owner

ACTIVE, RESTRICTED, ERASED = "active", "restricted", "erased"
SUBJECT, STANDALONE = "subject", "standalone"


def states(session: Session, subject_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """subject id -> (kind, state) for the ids that exist."""
    s = t.subjects.c
    rows = select_in(session, [s.subject_id, s.kind, s.state], s.subject_id, subject_ids)
    return {sid: (kind, state) for sid, kind, state in rows}


def ensure(
    session: Session, subject_ids: Sequence[str], now: dt.datetime, existing: Collection[str] = ()
) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Create the subjects that do not exist; return (kind, state) of all, and the new ids.

    ``existing`` names ids known to exist (the caller loaded their data keys):
    they are only read. The others are inserted first, conflicts skipped, and
    only those not inserted are read: one statement when every subject is new
    (an onboarding batch) or every one is known (a customer's new value).
    Safe against a concurrent request creating the same subject: only one
    transaction's insert counts, and only it reports the id as new.
    """
    created = insert(session, sorted({sid for sid in subject_ids if sid not in existing}), SUBJECT, now)
    new = set(created)
    found = states(session, [sid for sid in subject_ids if sid not in new])
    found.update((sid, (SUBJECT, ACTIVE)) for sid in created)
    return found, created


def insert(session: Session, subject_ids: Sequence[str], kind: str, now: dt.datetime) -> list[str]:
    """Insert active owners of ``kind``, skipping ids that exist; return the ids inserted."""
    rows = [{"subject_id": sid, "kind": kind, "state": ACTIVE, "created_at": now} for sid in subject_ids]
    inserted = insert_ignoring_conflicts(session, t.subjects, rows, "subject_id")
    return [sid for sid in subject_ids if sid in inserted]


def get(session: Session, subject_id: str) -> sa.Row | None:
    """The subject row (kind "subject" only: standalone owners are internal)."""
    s = t.subjects.c
    return session.execute(
        sa.select(s.subject_id, s.state, s.created_at, s.opened_at, s.closed_at, s.state_changed_at).where(
            s.subject_id == subject_id, s.kind == SUBJECT
        )
    ).first()


def held_field_types(session: Session, subject_id: str) -> dict[str, int]:
    """field type -> number of tokens the subject holds."""
    k = t.tokens.c
    rows = session.execute(
        sa.select(k.field_type, sa.func.count())
        .where(k.subject_id == subject_id)
        .group_by(k.field_type)
        .order_by(k.field_type)
    )
    return {field_type: int(n) for field_type, n in rows}


def of_token(session: Session, token: str) -> str | None:
    """The subject a token belongs to (None for an unknown or malformed token, or a standalone one,
    whose owner is internal)."""
    if not isinstance(token, str) or not 1 <= len(token) <= 128:
        return None
    k, s = t.tokens.c, t.subjects.c
    return session.scalar(
        sa.select(k.subject_id)
        .join(t.subjects, s.subject_id == k.subject_id)
        .where(k.token == token, s.kind == SUBJECT)
    )


def tokens_of(session: Session, subject_id: str, limit: int = MAX_BATCH) -> list[tuple[str, str]]:
    """(token, field type) of the subject's tokens, by field type then age, at most ``limit``
    (one detokenize batch: what a page can reveal at once). Tokens and field types are not PII."""
    k = t.tokens.c
    rows = session.execute(
        sa.select(k.token, k.field_type)
        .where(k.subject_id == subject_id)
        .order_by(k.field_type, k.created_at, k.token)
        .limit(limit)
    )
    return [(token, field_type) for token, field_type in rows]


def set_state(session: Session, subject_id: str, state: str, now: dt.datetime) -> None:
    session.execute(
        t.subjects.update()
        .where(t.subjects.c.subject_id == subject_id)
        .values(state=state, state_changed_at=now)
    )


def set_opened(session: Session, subject_id: str, now: dt.datetime) -> None:
    """Record that the customer relationship began (a lead becomes a customer)."""
    session.execute(t.subjects.update().where(t.subjects.c.subject_id == subject_id).values(opened_at=now))


def set_closed(session: Session, subject_id: str, now: dt.datetime) -> None:
    session.execute(t.subjects.update().where(t.subjects.c.subject_id == subject_id).values(closed_at=now))


def erase_tokens(session: Session, keyring: Keyring, subject_id: str, now: dt.datetime) -> int:
    """Delete the subject's tokens, with their sealed values and blind indexes; return how many.

    What stays of each is a tombstone (:data:`tokenization.tables.erased_tokens`):
    a keyed digest of the token, the subject id and the field type, so that
    detokenizing it answers "erased" however the subject was erased. Every
    erasure path (the tokenization service, a data-subject request, replaying
    the erasure ledger after a restore) comes here; running it again is harmless.
    """
    k = t.tokens.c
    held = session.execute(sa.select(k.token, k.field_type).where(k.subject_id == subject_id)).all()
    if not held:
        return 0
    key = keyring.system_key(session, TOMBSTONE_KEY)
    rows = [
        {
            "token_digest": erased_token_digest(key, token),
            "subject_id": subject_id,
            "field_type": field_type,
            "erased_at": now,
        }
        for token, field_type in held
    ]
    insert_ignoring_conflicts(session, t.erased_tokens, rows, "token_digest")
    session.execute(t.tokens.delete().where(k.subject_id == subject_id))
    return len(held)


def erased_tokens(session: Session, keyring: Keyring, tokens: Collection[str]) -> dict[str, tuple[str, str]]:
    """token -> (subject id, field type) for the given tokens that belonged to an erased subject.

    Reads only: without the digest key no erasure has happened, and nothing is created.
    """
    if not tokens:
        return {}
    key = keyring.data_keys(session, [system_owner(TOMBSTONE_KEY)]).get(system_owner(TOMBSTONE_KEY))
    if key is None:
        return {}
    by_digest = {erased_token_digest(key, token): token for token in tokens}
    e = t.erased_tokens.c
    rows = select_in(session, [e.token_digest, e.subject_id, e.field_type], e.token_digest, by_digest)
    return {by_digest[bytes(digest)]: (subject_id, field_type) for digest, subject_id, field_type in rows}
