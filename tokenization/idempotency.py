"""Idempotency keys: a retried request gets the response of the first one.

A client sends ``Idempotency-Key: <key>`` with a request that may be retried
(a timeout, a 503). The first request stores (client, key) -> (fingerprint of
the request body, response) in its own transaction; later requests with the
same key and body get that response back without doing anything, and a
different body with the same key is a conflict. Entries live 24 hours.

The body holds PII, so the fingerprint is a keyed hash (a system data key of
:mod:`vault`), and the stored response holds only tokens and error codes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tokenization import tables as t
from tokenization.errors import IdempotencyConflict, InvalidRequest
from vault import DataKey, constant_time_equal

TTL = dt.timedelta(hours=24)
MAX_KEY = 255


def check_key(key: str) -> None:
    """Raise :class:`InvalidRequest` unless ``key`` is 1-255 printable ASCII characters."""
    if not 1 <= len(key) <= MAX_KEY or not all(" " < c <= "~" for c in key):
        raise InvalidRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")


def fingerprint(key: DataKey, operation: str, body: Sequence) -> bytes:
    """Keyed hash of a request body (a JSON-serializable sequence)."""
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return key.keyed_hash("idempotency/" + operation, raw.encode("utf-8"))


def replay(session: Session, client_id: str, key: str, fp: bytes, now: dt.datetime) -> list[dict] | None:
    """The stored response for (client, key), or None if there is none (or it expired).

    Raises :class:`IdempotencyConflict` if the key was used with another body.
    """
    c = t.idempotency.c
    where = sa.and_(c.client_id == client_id, c.idempotency_key == key)
    row = session.execute(sa.select(c.fingerprint, c.response, c.expires_at).where(where)).first()
    if row is None:
        return None
    if row.expires_at <= now:
        session.execute(t.idempotency.delete().where(where))
        return None
    if not constant_time_equal(bytes(row.fingerprint), fp):
        raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
    return json.loads(row.response)


def remember(
    session: Session, client_id: str, key: str, fp: bytes, response: list[dict], now: dt.datetime
) -> None:
    """Store the response; raises IntegrityError if a concurrent request stored one first."""
    session.execute(
        t.idempotency.insert().values(
            client_id=client_id,
            idempotency_key=key,
            fingerprint=fp,
            response=json.dumps(response, separators=(",", ":")),
            created_at=now,
            expires_at=now + TTL,
        )
    )


def purge_expired(session: Session, now: dt.datetime) -> int:
    """Delete expired entries; returns how many."""
    result = session.execute(t.idempotency.delete().where(t.idempotency.c.expires_at <= now))
    return int(result.rowcount or 0)
