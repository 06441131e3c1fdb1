"""A subject's tokens: which field types it holds, whose a token is, and erasing them.

The subjects themselves and their states are :mod:`privacy.subjects`'. The
functions here run inside the caller's transaction and audit nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.sql import insert_ignoring_conflicts, select_in
from privacy import tables as pt
from privacy.subjects import SUBJECT
from tokenization import tables as t
from tokenization.model import MAX_BATCH
from tokenization.tokens import TOMBSTONE_KEY, erased_token_digest
from vault import Keyring, system_owner


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
    k, s = t.tokens.c, pt.subjects.c
    return session.scalar(
        sa.select(k.subject_id)
        .join(pt.subjects, s.subject_id == k.subject_id)
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
