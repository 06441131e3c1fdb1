"""The audit sink: writes a unit of work's events into the queue, in its transaction.

If the insert fails, the unit of work's commit fails with it: no audit record,
no action. The sequencer (:mod:`audit.sequencer`) later gives queued events
their place in the chain and the Merkle tree.

Each row carries the recording process's source MAC (:mod:`audit.authenticity`),
under a key the database alone does not hold: the sequencer refuses rows without it.

Everything the sequencer will need from an event is checked here, while the
action can still be refused: a queue row the sequencer could not store would
otherwise have to be quarantined after the action had already happened.

The insert is on the path of every request, so it is kept small: one
statement per unit of work (on PostgreSQL beyond a few rows two arrays
unnested, one text for any number of rows; else a multi-row VALUES list, its
text cached per row count), the canonical bytes computed once here, and no ORM or
SQL compilation in between (the driver's own statement, through the unit of
work's connection or, with a change written alone, through
:func:`piivault.direct.write_alone`: either way an outage is still a 503 and a
failed insert still fails the commit, as SQLAlchemy's error).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit import tables as t
from audit.authenticity import EventAuthenticator
from audit.canonical import canonical_json
from audit.events import MAX_DETAILS_BYTES, AuditEvent, time_stamp
from piivault.db import Statement, utcnow

# Rows per statement: 3 parameters a row, well under SQLite's (32,766) and
# PostgreSQL's (65,535) bound-parameter limits.
ROWS_PER_STATEMENT = 4_000
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime stores SQLite datetimes (naive UTC)

# On psycopg, up to this many rows go as a VALUES list (one text per count, a few texts that
# psycopg prepares once each is used often), more as two arrays (one text for any count):
# building and unnesting two arrays cost a single tokenize's two rows more than their VALUES
# list (issue 22).
VALUES_UP_TO = 4

# Payload fields copied into indexed columns, and the column widths they must fit.
Queued = tuple[str, bytes]
"""A prepared queue row: the payload (canonical JSON) and its source MAC."""

COLUMN_LIMITS: Mapping[str, int] = {
    name: t.events.c[name].type.length
    for name in ("actor", "action", "subject_id", "purpose", "outcome", "request_id")
}


def check_columns(payload: Mapping[str, Any]) -> None:
    """Check that the payload's indexed fields fit their ``audit_events`` columns.

    Raises:
        ValueError: a field is missing (actor, action, outcome), not a string,
            too long, or holds a NUL character. The message names the field,
            never its value.
    """
    for name, limit in COLUMN_LIMITS.items():
        value = payload.get(name)
        if value is None and name in ("subject_id", "purpose", "request_id"):
            continue
        if not isinstance(value, str) or not value:
            raise ValueError(f"audit event {name} must be a non-empty string")
        if len(value) > limit:
            raise ValueError(f"audit event {name} is longer than {limit} characters")
        if "\x00" in value:  # PostgreSQL text cannot hold it: the sequencer could never store the event
            raise ValueError(f"audit event {name} contains a NUL character")


class QueueSink:
    """The unit of work's audit sink: queue the events and their source MACs in the caller's transaction."""

    def __init__(self, authenticator: EventAuthenticator, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._authenticator = authenticator
        self._clock = clock

    def __call__(self, session: Session, events: Sequence[AuditEvent]) -> None:
        """Insert the events into ``audit_queue`` in the caller's transaction.

        Raises:
            TypeError: an item is not an :class:`AuditEvent`, or its details
                hold a value canonical JSON does not accept.
            ValueError: an event is too large or a field does not fit its column.
            VaultUnavailable: the MAC key is not loaded yet and Vault cannot unwrap it.
            sqlalchemy.exc.DBAPIError: the insert failed (the commit then fails).
        """
        now = self._clock()
        # The transaction first, then the MAC key (on a process's first use, under the
        # authenticator's lock): on SQLite the transaction's write lock, taken after that lock,
        # would deadlock with a thread holding the write lock and waiting for the key.
        connection = session.connection()
        insert_queued(connection, now, self.prepare(events, now, session))

    def alone(self, events: Sequence[AuditEvent], change: Statement, *, guarded: bool = False) -> Statement:
        """``change`` (psycopg's text of a data-modifying statement, and its parameters) and the
        events' insert into ``audit_queue`` as ONE statement (psycopg's text), for a caller that
        runs it in autocommit: the change and its audit rows then commit together or not at all,
        as any one statement does (:meth:`piivault.db.UnitOfWork.commit`). ``guarded``: the
        change returns a row per row it wrote, and the events go only if it returned any.

        Raises as :meth:`__call__` before anything is sent; ValueError also for more events than
        one statement holds. A MAC key not loaded yet is loaded (or created) in a transaction of
        its own.
        """
        now = self._clock()
        return queued_with(change, now, self.prepare(events, now), guarded=guarded)

    def prepare(
        self, events: Sequence[AuditEvent], now: dt.datetime, session: Session | None = None
    ) -> list[Queued]:
        """The queue rows of ``events``: canonical JSON, each checked as the sequencer needs, and its MAC.

        Raises:
            TypeError, ValueError: as :meth:`__call__`; the message names no value.
            VaultUnavailable: as :meth:`__call__`.
        """
        payloads = []
        stamp = time_stamp(now)
        for event in events:
            if not isinstance(event, AuditEvent):
                raise TypeError("audit sink takes AuditEvent objects")
            body = event.payload(now, stamp=stamp)
            check_columns(body)
            payload = canonical_json(body)
            if len(payload) > MAX_DETAILS_BYTES:
                raise ValueError("audit event too large")
            payloads.append(payload)
        if not payloads:
            return []
        key = self._authenticator.key(session)
        return [(p.decode("utf-8"), EventAuthenticator.source_mac(key, p)) for p in payloads]


def insert_queued(connection: sa.Connection, now: dt.datetime, payloads: Sequence[Queued]) -> None:
    """Insert prepared rows (payload, MAC) into ``audit_queue`` through ``connection``, in its transaction.

    Raises:
        sqlalchemy.exc.DBAPIError: the insert failed.
    """
    dialect = connection.dialect
    psycopg = dialect.name == "postgresql" and dialect.driver == "psycopg"
    mark = "?" if dialect.name == "sqlite" else "%s"
    for start in range(0, len(payloads), ROWS_PER_STATEMENT):
        connection.exec_driver_sql(*_insert(mark, psycopg, now, payloads[start : start + ROWS_PER_STATEMENT]))


def queued_with(
    change: Statement, now: dt.datetime, payloads: Sequence[Queued], *, guarded: bool = False
) -> Statement:
    """``change`` (psycopg's text and parameters) and the insert of ``payloads`` as one statement
    of psycopg's, the change as its ``WITH`` clause; ``change`` alone for no payloads.

    ``guarded``: ``change`` returns a row for each row it wrote (``RETURNING``), and the payloads
    are inserted only if it returned any; the statement's row count is then theirs, 0 when the
    change wrote nothing.

    Raises:
        ValueError: more payloads than one statement holds.
    """
    if not payloads:
        return change
    if len(payloads) > ROWS_PER_STATEMENT:
        raise ValueError("a change goes with at most one statement's audit rows")
    sql, params = _insert("%s", True, now, payloads, guarded)
    change_sql, change_params = change
    return f"WITH change AS ({change_sql}) {sql}", (*change_params, *params)


def _insert(
    mark: str, psycopg: bool, now: dt.datetime, payloads: Sequence[Queued], guarded: bool = False
) -> Statement:
    """The driver's text and parameters inserting ``payloads`` (at most ROWS_PER_STATEMENT);
    ``guarded`` (psycopg, after a ``WITH change``), only if ``change`` returned a row."""
    if psycopg and len(payloads) > VALUES_UP_TO:
        text = _INSERT_ARRAYS_WITH_CHANGE if guarded else _INSERT_ARRAYS
        return text, (now, [payload for payload, _ in payloads], [mac for _, mac in payloads])
    # SQLite's driver gets the text UTCDateTime would store; psycopg an aware datetime.
    enqueued_at: Any = now.astimezone(dt.UTC).strftime(_SQLITE_TIME) if mark == "?" else now
    params = tuple(value for payload, mac in payloads for value in (enqueued_at, payload, mac))
    return _insert_statement(mark, len(payloads), guarded), params


# PostgreSQL (psycopg), beyond VALUES_UP_TO rows: the payloads and MACs as two binary arrays, in
# their order. One text for any number of rows, so psycopg prepares it once and PostgreSQL plans
# it once; a VALUES list of 3 placeholders a row was a new statement for every batch size,
# parsed and planned again (and split again by the driver, whose cache keeps short statements
# only), issue 22.
_INSERT_ARRAYS = (
    "INSERT INTO audit_queue (enqueued_at, payload, mac) "
    "SELECT %s, q.payload, q.mac FROM unnest(%b::text[], %b::bytea[]) WITH ORDINALITY AS q(payload, mac, n) "
    "ORDER BY q.n"
)
_ONLY_WITH_CHANGE = "EXISTS (SELECT FROM change)"
_INSERT_ARRAYS_WITH_CHANGE = _INSERT_ARRAYS.replace(" ORDER BY", f" WHERE {_ONLY_WITH_CHANGE} ORDER BY")


@functools.lru_cache(maxsize=64)
def _insert_statement(mark: str, rows: int, guarded: bool) -> str:
    values = ", ".join([f"({mark}, {mark}, {mark})"] * rows)
    into = "INSERT INTO audit_queue (enqueued_at, payload, mac)"
    if guarded:  # the rows as a subquery, for the condition (an INSERT ... VALUES takes none)
        return f"{into} SELECT * FROM (VALUES {values}) AS v WHERE {_ONLY_WITH_CHANGE}"  # noqa: S608 - constants
    return f"{into} VALUES {values}"  # noqa: S608 - constants
