"""Subjects (customers) and the internal owners of standalone tokens: who they are and their state.

A subject is created explicitly or on its first tokenization; its data key is
created with it. Its state is ``active``, ``restricted`` (PIPL art. 44: kept,
not used) or ``erased`` (its data key shredded: every sealed value is noise).
The functions here run inside the caller's transaction and audit nothing; the
use cases that call them are tokenization's (a subject made on first use) and
consent's (relationships opened and closed, restrictions, erasure). A subject's
tokens are :mod:`tokenization.subject_tokens`'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from piivault.db import Statement, check_isolation
from piivault.sql import insert_ignoring_conflicts, select_in
from privacy import tables as pt

ACTIVE, RESTRICTED, ERASED = "active", "restricted", "erased"
SUBJECT, STANDALONE = "subject", "standalone"


def states(session: Session, subject_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """subject id -> (kind, state) for the ids that exist."""
    s = pt.subjects.c
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


def states_still(states: Mapping[str, str]) -> Statement:
    """psycopg's text and parameters of a condition (PostgreSQL) that holds while each subject
    of ``states`` (subject id -> state) is in that state still: for a writer that read the
    states before it writes (or took them from a cache) to check in its write
    (:func:`piivault.sql.commit_insert`'s ``only_if``) or in its transaction, before it.

    It locks their rows (``FOR SHARE``, till the writer commits) as it reads them. A change of
    state not yet committed (an erasure's) makes the check wait for that transaction, then see
    the state it left; a change begun after the check waits for the writer. Read without the
    lock, at the statement's snapshot, a subject being erased would still look active, and a
    token written for it then would outlive its erasure, its blind index with it."""
    return _STATES_STILL, (list(states), list(states.values()))


_STATES_STILL = (
    "NOT EXISTS (SELECT FROM unnest(%b::text[], %b::text[]) AS known(subject_id, state) "  # noqa: S608 - a table's name
    f"WHERE NOT EXISTS (SELECT FROM {pt.subjects.name} AS s "
    "WHERE s.subject_id = known.subject_id AND s.state = known.state FOR SHARE OF s))"
)


# The advisory locks on subjects take two keys. A subject's own: this namespace ("PISB") and
# the hash of its id. Every subject's at once: the namespace ALL_SUBJECTS and the schema's
# hash. Advisory locks are the database's, not a schema's: keys hashed with the schema's name
# keep piivaults in two schemas of one database (the tests' are) from waiting for each other.
# (The audit sequencer's namespace is another, audit._storage.LOCK_NAMESPACE.) A consent import
# names up to 200,000 subjects and an attribute write 1,000: a lock each would fill
# PostgreSQL's lock table, which holds max_locks_per_transaction x max_connections (6,400 by
# default) for every transaction. A writer of more than FEW_SUBJECTS takes ALL_SUBJECTS alone.
LOCK_NAMESPACE = 0x50495342
ALL_SUBJECTS = 0x50495341
FEW_SUBJECTS = 16
_LOCK_EACH = (
    "SELECT pg_advisory_xact_lock{mode}(:ns, k) FROM "
    "(SELECT DISTINCT hashtext(current_schema() || '/' || s) AS k "
    "FROM unnest(CAST(:ids AS text[])) AS s ORDER BY k) AS keys"
)
_LOCK_ALL = "SELECT pg_advisory_xact_lock{mode}(:ns, hashtext(current_schema()))"


def keep_from_erasure(session: Session, subject_ids: Collection[str]) -> None:
    """Hold off any erasure of these subjects until the caller's transaction ends; wait for one
    under way to end first. For a writer of what an erasure removes (consent records and their
    receipts, holds, requests' notes, risk attributes, a subject's state), before it reads
    whether the subject was erased: it then reads what that erasure left, and an erasure that
    comes later waits for its write and removes it.

    PostgreSQL: a shared transaction-level advisory lock on each subject, or on every subject
    at once (:data:`ALL_SUBJECTS`) for more than :data:`FEW_SUBJECTS`; only
    :func:`lock_for_erasure` conflicts with either. No row is needed: a subject known only to
    consent has none. It protects at READ COMMITTED, where the read after it takes a new
    snapshot; at another level this raises ConfigurationError, as piivault does not serve
    there (:func:`piivault.db.check_isolation`). SQLite: nothing to do, a
    writing transaction holds the database's write lock from its start
    (:func:`piivault.db.make_engine`). A tokenize checks its subjects' rows instead
    (:func:`states_still`), in its one statement.
    """
    if not subject_ids or not _postgresql(session):
        return
    unique = list(set(subject_ids))
    if len(unique) > FEW_SUBJECTS:
        _lock_all(session, "_shared")
    else:
        session.execute(sa.text(_LOCK_EACH.format(mode="_shared")), {"ns": LOCK_NAMESPACE, "ids": unique})


def lock_for_erasure(session: Session, subject_id: str) -> None:
    """Take the erasure's side of :func:`keep_from_erasure`'s locks on ``subject_id``, till the
    caller's transaction ends: wait for the writers holding them, and keep new ones waiting. An
    erasure takes it before it reads anything about the subject (its state, its holds).

    Exclusive on :data:`ALL_SUBJECTS`, then on the subject's own: erasures go one at a time,
    and while one runs or waits, bulk writers wait; a writer of few subjects waits only for an
    erasure of one of them."""
    if not _postgresql(session):
        return
    _lock_all(session, "")
    session.execute(sa.text(_LOCK_EACH.format(mode="")), {"ns": LOCK_NAMESPACE, "ids": [subject_id]})


def _postgresql(session: Session) -> bool:
    """Whether the locks are taken (PostgreSQL); raises ConfigurationError at a level other than
    READ COMMITTED, where they would not keep their promise (:func:`piivault.db.check_isolation`)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    check_isolation(bind.engine)
    return True


def _lock_all(session: Session, mode: str) -> None:
    session.execute(sa.text(_LOCK_ALL.format(mode=mode)), {"ns": ALL_SUBJECTS})


def insert(session: Session, subject_ids: Sequence[str], kind: str, now: dt.datetime) -> list[str]:
    """Insert active owners of ``kind``, skipping ids that exist; return the ids inserted."""
    rows = [{"subject_id": sid, "kind": kind, "state": ACTIVE, "created_at": now} for sid in subject_ids]
    inserted = insert_ignoring_conflicts(session, pt.subjects, rows, "subject_id")
    return [sid for sid in subject_ids if sid in inserted]


def get(session: Session, subject_id: str) -> sa.Row | None:
    """The subject row (kind "subject" only: standalone owners are internal)."""
    s = pt.subjects.c
    return session.execute(
        sa.select(s.subject_id, s.state, s.created_at, s.opened_at, s.closed_at, s.state_changed_at).where(
            s.subject_id == subject_id, s.kind == SUBJECT
        )
    ).first()


def set_state(session: Session, subject_id: str, state: str, now: dt.datetime) -> None:
    session.execute(
        pt.subjects.update()
        .where(pt.subjects.c.subject_id == subject_id)
        .values(state=state, state_changed_at=now)
    )


def set_opened(session: Session, subject_id: str, now: dt.datetime) -> None:
    """Record that the customer relationship began (a lead becomes a customer)."""
    session.execute(pt.subjects.update().where(pt.subjects.c.subject_id == subject_id).values(opened_at=now))


def set_closed(session: Session, subject_id: str, now: dt.datetime) -> None:
    session.execute(pt.subjects.update().where(pt.subjects.c.subject_id == subject_id).values(closed_at=now))
