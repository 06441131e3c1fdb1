"""Database engine, table metadata and the unit of work.

Every domain package declares its tables on :data:`metadata`; Alembic
migrations in ``piivault/migrations`` create them. The :class:`UnitOfWork` is
the only way services write: the domain change and its audit events commit in
one transaction or not at all ("no audit record, no action").
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.orm import Session, sessionmaker

from piivault.direct import write_alone
from piivault.errors import ConfigurationError, StorageUnavailable

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


PING_AFTER_IDLE_SECONDS = 5.0


def make_engine(url: str, *, ping_after_idle: float = PING_AFTER_IDLE_SECONDS, **kwargs: Any) -> sa.Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and IMMEDIATE transactions.

    PostgreSQL is reached through psycopg (3): ``postgresql://`` means it, and another
    driver is refused, since the statements that check what a writer read
    (:func:`piivault.sql.commit_insert`'s ``only_if``) are psycopg's. Raises
    :class:`ConfigurationError` for a URL SQLAlchemy cannot use.
    """
    try:
        parsed = sa.engine.make_url(url)
    except exc.ArgumentError:
        raise ConfigurationError(
            "PIIVAULT_DATABASE_URL is not a valid database URL "
            "(expected e.g. postgresql+psycopg://user@host/db or sqlite:///path)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigurationError("PIIVAULT_DATABASE_URL must be a PostgreSQL or SQLite URL")
    if parsed.get_backend_name() == "sqlite":
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
        try:
            engine = sa.create_engine(parsed, **kwargs)
        except Exception as e:  # missing driver etc.
            raise ConfigurationError(f"cannot use PIIVAULT_DATABASE_URL: {type(e).__name__}") from None
        _sqlite_setup(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigurationError(
            f"PIIVAULT_DATABASE_URL: PostgreSQL is reached through psycopg (postgresql+psycopg://), "
            f"not {parsed.get_driver_name()}"
        )
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except Exception as e:
        raise ConfigurationError(f"cannot use PIIVAULT_DATABASE_URL: {type(e).__name__}") from None
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, ping_after_idle)
    if engine.dialect.driver == "psycopg":
        _arrays_in_binary(engine)
    return engine


def make_read_only_engine(engine: sa.Engine) -> sa.Engine:
    """A PostgreSQL engine beside ``engine`` whose every statement is its own ``READ ONLY`` transaction.

    For units of work that read and hand their audit events to group commit
    (:mod:`audit.group`): a ``BEGIN READ ONLY`` and a ``COMMIT`` were two of a
    detokenize's five round trips. At PostgreSQL's default ``READ COMMITTED``
    every statement takes its own snapshot in a transaction too, so autocommit
    reads see what they saw inside one. ``default_transaction_read_only`` is set
    on the connection (a startup option: no round trip), so PostgreSQL still
    refuses any write made through these sessions: a unit of work wrongly
    declared read-only fails loudly instead of writing outside its audit event's
    transaction. Its own pool, so these settings never reach another session.
    """
    url = engine.url
    options = " ".join(o for o in (url.query.get("options"), "-c default_transaction_read_only=on") if o)
    return make_engine(
        url.render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
        connect_args={"options": options},
    )


def _ping_when_idle(engine: sa.Engine, idle: float) -> None:
    """Ping a pooled PostgreSQL connection before use only if it sat idle ``idle`` seconds.

    ``pool_pre_ping`` pings at every checkout: one more round trip per request
    (17% of a single detokenize's time in the worker, py-spy under
    ``bench/api.py``'s load), to catch connections a database restart or a
    firewall killed while they sat in the pool. Those are the idle ones; a
    connection checked in moments ago was alive then. One that died since
    anyway fails its statement, which the API answers 503 with Retry-After
    (nothing half-written: the transaction never committed) and SQLAlchemy
    then discards every connection of the pool made before the failure.
    A failed ping discards the connection and the pool makes a new one.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["piivault_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checking_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("piivault_checked_in")
        if since is None or time.monotonic() - since < idle:
            return  # new (it just connected) or used moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error:
            raise exc.DisconnectionError("idle connection failed its ping") from None


class _BinaryList(list):
    """An array parameter of :func:`in_array`: psycopg connections of :func:`make_engine` send it
    in binary format; any other connection, as the list it is."""


def _arrays_in_binary(engine: sa.Engine) -> None:
    """Have the engine's psycopg connections send :func:`in_array`'s arrays in binary format.

    A list parameter goes as array text, escaped element by element in Python:
    2-5 ms for 1,000 tokens, half the worker's time on a batch detokenize's
    query; the binary form is built in C, in a tenth of that (issue 22).
    """
    from psycopg.types.array import ListBinaryDumper

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.adapters.register_dumper(_BinaryList, ListBinaryDumper)


class _ArrayParameter(sa.types.TypeDecorator):
    """An array bound as a :class:`_BinaryList` through psycopg (other drivers: as ARRAY binds it)."""

    impl = sa.ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Any) -> Callable[[Any], Any] | None:
        if dialect.driver != "psycopg":
            return super().bind_processor(dialect)
        return _binary_list


def _binary_list(value: Any) -> _BinaryList | None:
    return None if value is None else _BinaryList(value)


def _sqlite_setup(engine: sa.Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot upgrade a read
    # transaction to a write one without SQLITE_BUSY; take the write lock up front.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


# SQL array types for the column types bulk inserts send as arrays.
_ARRAY_TYPES: tuple[tuple[type[sa.types.TypeEngine], str], ...] = (
    (sa.LargeBinary, "bytea[]"),
    (sa.DateTime, "timestamptz[]"),
    (sa.Boolean, "boolean[]"),
    (sa.Integer, "bigint[]"),
    (sa.String, "text[]"),
)


def _array_type(column: sa.Column) -> str | None:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    for python_type, array in _ARRAY_TYPES:
        if isinstance(kind, python_type):
            return array
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _InsertShape:
    """What :func:`insert_statement` sends for one table and set of columns, whatever the rows."""

    one_row: str  # a VALUES row
    arrays: str  # one binary array per column, unnested
    utc: tuple[int, ...]  # the positions of UTC columns: their datetimes must be aware
    selected: str  # the row as a SELECT, for a condition to follow (WHERE)


@functools.lru_cache(maxsize=256)
def _insert_shape(dialect: sa.Dialect, table: sa.Table, names: tuple[str, ...]) -> _InsertShape | None:
    """The statements for ``names`` of ``table``, built once (per request they were built anew,
    the columns' array types looked up each time: 3% of a single tokenize's CPU, issue 22);
    None if a column has a type that is not sent as an array. Tables are keyed as themselves:
    their columns are declared once, at import, and never changed."""
    columns = [table.c[name] for name in names]
    arrays = [_array_type(column) for column in columns]
    if None in arrays:
        return None
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)})"
    marks = ", ".join("%s" for _ in names)
    # %b: psycopg's placeholder for a parameter sent in binary format.
    unnest = ", ".join(f"%b::{array}" for array in arrays)
    return _InsertShape(
        one_row=f"{into} VALUES ({marks})",
        arrays=f"{into} SELECT * FROM unnest({unnest})",  # noqa: S608 - identifiers and casts
        utc=tuple(i for i, column in enumerate(columns) if isinstance(column.type, UTCDateTime)),
        selected=f"{into} SELECT {marks}",
    )


def _aware(values: Iterable[Any]) -> bool:
    """Whether every one of ``values`` is None or an aware datetime: what a UTC column takes."""
    return all(v is None or (isinstance(v, dt.datetime) and v.tzinfo is not None) for v in values)


def insert_arrays(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    on_conflict: str | None = None,
    returning: str | None = None,
) -> sa.CursorResult | None:
    """Insert many rows in one statement on PostgreSQL with psycopg 3; None elsewhere.

    The statement is :func:`insert_statement`'s. ``on_conflict`` names a unique column whose
    conflicting rows are skipped; ``returning`` a column to return. Returns None (the caller
    inserts another way) where :func:`insert_statement` does.
    """
    statement = insert_statement(conn.dialect, table, rows)
    if statement is None:
        return None
    sql, params = statement
    quote = conn.dialect.identifier_preparer.quote
    if on_conflict is not None:
        sql += f" ON CONFLICT ({quote(on_conflict)}) DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    return conn.exec_driver_sql(sql, params)


def insert_statement(
    dialect: sa.Dialect, table: sa.Table, rows: Sequence[dict[str, Any]], *, only_if: Statement | None = None
) -> tuple[str, tuple[Any, ...]] | None:
    """psycopg's text and parameters of one INSERT of ``rows`` into ``table``; None (the caller
    inserts another way) on another database or driver, for no rows, for a column of a type
    it does not send, a naive time for a UTC column, or (several rows) a column of nulls only.

    ``only_if`` (psycopg's text of a condition, and its parameters) makes the insert guarded:
    it writes the rows only if the condition holds as the statement runs, and returns a row
    (``RETURNING 1``) for each row it wrote, none when the condition failed. A single row then
    goes as a SELECT of its values, for the condition to follow.

    Each column travels as one array in binary format, unpacked by ``unnest``:
    the driver encodes an array in a C loop, where an ``executemany`` costs a
    statement per row and a multi-row VALUES list costs Python time per value
    (about a tenth for 1,000 rows). A single row goes as a VALUES row: one-element
    arrays cost the driver and the server more than the values themselves (issue 22).
    Every row must have the same keys.
    """
    if dialect.name != "postgresql" or dialect.driver != "psycopg" or not rows:
        return None
    names = tuple(rows[0])
    shape = _insert_shape(dialect, table, names)
    if shape is None:
        return None
    if len(rows) == 1:
        # One row: its values as they are, not an array per column to build and unnest.
        values = tuple(rows[0][name] for name in names)
        if not _aware(values[i] for i in shape.utc):
            return None
        if only_if is None:
            return shape.one_row, values
        return _guarded(shape.selected, values, only_if)
    columns = tuple([row[name] for row in rows] for name in names)
    # An array of nulls only: the driver could not tell its element type (a lone NULL takes the column's).
    if any(all(v is None for v in values) for values in columns):
        return None
    if not all(_aware(columns[i]) for i in shape.utc):
        return None
    if only_if is None:
        return shape.arrays, columns
    return _guarded(shape.arrays, columns, only_if)


def _guarded(insert: str, params: tuple[Any, ...], only_if: Statement) -> tuple[str, tuple[Any, ...]]:
    """``insert`` (an INSERT ... SELECT) writing only if ``only_if`` holds, a row returned per row written."""
    condition, condition_params = only_if
    return f"{insert} WHERE {condition} RETURNING 1", (*params, *condition_params)


def in_array(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[bool]:
    """PostgreSQL: ``column IN (SELECT unnest(:name))``, the values bound as one array.

    The statement's text is the same for any number of values, so the driver
    prepares it once and sends one array; an IN list of hundreds of
    placeholders is rendered and parsed again for every request. Not
    ``= ANY(:name)``: PostgreSQL cannot hash a parameter array, and a plan that
    scans the table compares every row with every value.
    """
    return column.in_(array_values(name, column.type))


def array_values(name: str, item_type: sa.types.TypeEngine[Any]) -> sa.Select[Any]:
    """PostgreSQL: ``SELECT unnest(:name)``, the values of ``item_type`` bound as one array (see
    :func:`in_array`), for an ``IN`` that another helper builds."""
    return sa.select(sa.func.unnest(sa.bindparam(name, type_=_ArrayParameter(item_type))))


def snapshot_per_statement(engine: sa.Engine) -> bool:
    """Whether ``engine``'s transactions are READ COMMITTED (PostgreSQL's default; known once it
    has connected): then each statement of a transaction takes its own snapshot, and a statement
    in autocommit sees what it would have seen inside one. Under REPEATABLE READ or
    SERIALIZABLE a transaction's statements share one snapshot, and its reads guard its writes."""
    # Unknown (no attribute) until the engine's first connection: False, the transaction's way.
    return getattr(engine.dialect, "default_isolation_level", None) == "READ COMMITTED"


def is_unavailable(error: BaseException) -> bool:
    """True for database errors that mean "try again later", not "bad request"."""
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError) or (
        isinstance(error, exc.DBAPIError) and error.connection_invalidated
    )


def check_database(engine: sa.Engine) -> None:
    """Raise :class:`StorageUnavailable` unless a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except exc.SQLAlchemyError as e:
        raise StorageUnavailable(f"database unreachable ({type(e.orig or e).__name__})") from None


def check_isolation(engine: sa.Engine) -> None:
    """Raise :class:`ConfigurationError` unless ``engine``'s PostgreSQL transactions run at READ
    COMMITTED, PostgreSQL's default.

    Writers and erasures take turns on a subject by a lock, then read what the other left
    (:mod:`privacy.subjects`). At REPEATABLE READ that read is at a snapshot taken before the
    wait: a consent written as its subject is erased could outlive the erasure. SERIALIZABLE
    fails one of the two instead, and the erasure may be the one, after its ledger line is
    written: the service would then refuse to start until ``keys replay-erasures``. Known
    once the engine has connected (:func:`check_database`); SQLite has no such setting."""
    level = getattr(engine.dialect, "default_isolation_level", None)
    if engine.dialect.name == "postgresql" and level is not None and level != "READ COMMITTED":
        raise ConfigurationError(
            f"the database runs transactions at {level} (default_transaction_isolation): "
            "piivault needs READ COMMITTED, PostgreSQL's default (docs/operations.md)"
        )


Statement = tuple[str, Sequence[Any]]
"""psycopg's text of one statement and its parameters."""


class AuditSink(Protocol):
    """Writes pending audit events: inside the caller's transaction, or with a change alone."""

    def __call__(self, session: Session, events: Sequence[Any]) -> None:
        """Insert ``events`` in ``session``'s transaction."""

    def alone(self, events: Sequence[Any], change: Statement, *, guarded: bool = False) -> Statement:
        """``change`` (psycopg's text of a data-modifying statement, and its parameters) and the
        insert of ``events`` as one statement of psycopg's, to run alone in autocommit: see
        :meth:`UnitOfWork.commit`. ``guarded``: ``change`` returns a row for each row it wrote,
        and the events are inserted only if it returned any."""


class UnitOfWork:
    """One transaction: domain changes plus their audit events.

    Use as a context manager. Nothing is committed unless :meth:`commit` is
    called; leaving the block without committing (or with an exception) rolls
    back. :meth:`record` queues an audit event that is written in the same
    transaction at commit (or the same statement, for a change that commits
    alone); if writing it fails, the whole commit fails.

    A read-only unit of work (``group`` given; its sessions' transactions are
    ``READ ONLY``) ends its transaction at commit, if its session began one, and then hands its events to
    ``group``, which returns once they are committed in a transaction shared
    with other requests (:mod:`audit.group`), or raises: either way,
    :meth:`commit` returns only when the audit record is durable.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        audit_sink: AuditSink | None,
        *,
        group: Callable[[Sequence[Any]], None] | None = None,
    ) -> None:
        self._session_factory = session_factory
        self._audit_sink = audit_sink
        self._group = group
        self.session: Session | None = None
        self._events: list[Any] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self.session is not None
        try:
            if not self.committed:
                with contextlib.suppress(exc.SQLAlchemyError):
                    self.session.rollback()
        finally:
            self.session.close()

    @property
    def read_only(self) -> bool:
        """True when this unit of work's transaction is ``READ ONLY`` (a grouped commit)."""
        return self._group is not None

    def record(self, event: Any) -> None:
        """Queue an audit event for this transaction."""
        self._events.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` only once the transaction has committed."""
        self._after_commit.append(callback)

    def flush(self) -> None:
        assert self.session is not None
        with _outage_unavailable():
            self.session.flush()

    def commit(self, change: Statement | None = None, *, guarded: bool = False) -> bool:
        """Write queued audit events and commit; raise StorageUnavailable on outage. Returns
        True, unless a guarded change wrote nothing.

        ``change`` (PostgreSQL, psycopg's text and parameters) is this unit of work's one
        change, when it has done nothing else in the database (its session has not begun a
        transaction): the change and its events' insert then go as ONE statement in
        autocommit, atomic as any statement is, without the BEGIN and COMMIT of a
        transaction (two of a single tokenize's six round trips, issue 22), on a pooled
        connection of its own, through the driver. If the statement fails, nothing of it was
        written. Only where each statement takes its own snapshot
        (:func:`snapshot_per_statement`): there the statement sees what it would have seen
        inside a transaction.

        ``guarded``: ``change`` writes only if a condition of its own holds, and returns a row
        for each row it wrote (:func:`insert_statement`'s ``only_if``); its events are inserted
        only if it wrote. If it wrote nothing, this returns False: nothing was written, and the
        unit of work is rolled back (its events dropped), to go on as new.
        """
        assert self.session is not None
        if self._events and self._audit_sink is None and self._group is None:
            raise RuntimeError("unit of work has audit events but no audit sink")
        if change is not None and (self._group is not None or self.session.in_transaction()):
            raise RuntimeError("a change commits alone only in a unit of work that has done nothing yet")
        if guarded and change is None:
            raise ValueError("only a change commits guarded")
        try:
            if change is not None:
                if not self._commit_alone(change, guarded) and guarded:
                    self.rollback()
                    return False
            elif self._group is not None:
                # A read-only transaction, nothing to flush; none at all if the session has run
                # nothing (piivault maps no ORM classes: every write is a statement, which begins one).
                if self.session.in_transaction():
                    self.session.commit()
                if self._events:
                    self._group(list(self._events))
            else:
                if self._events:
                    self._audit_sink(self.session, list(self._events))  # type: ignore[misc]
                self.session.commit()
        except exc.SQLAlchemyError as e:
            with contextlib.suppress(exc.SQLAlchemyError):
                self.session.rollback()
            if is_unavailable(e):
                raise StorageUnavailable("database unavailable") from None
            raise
        self.committed = True
        self._events.clear()
        callbacks, self._after_commit = self._after_commit, []
        for cb in callbacks:
            cb()
        return True

    def _commit_alone(self, change: Statement, guarded: bool) -> int:
        """``change`` and the events' insert as one statement in autocommit, through the driver
        on a pooled connection of its own (:func:`piivault.direct.write_alone`): the session has
        begun nothing, so neither its connection nor its commit is needed. Returns the rows the
        statement wrote: guarded, none when the change wrote none (its events went with it)."""
        assert self.session is not None
        statement = change
        if self._events:
            sink = self._audit_sink
            statement = sink.alone(list(self._events), change, guarded=guarded)  # type: ignore[union-attr]
        return write_alone(self.session.get_bind().engine, *statement)

    def rollback(self) -> None:
        """Roll back what this unit of work did, and drop the events recorded of it."""
        assert self.session is not None
        self._events.clear()
        self._after_commit.clear()
        with _outage_unavailable():
            self.session.rollback()


@contextlib.contextmanager
def _outage_unavailable() -> Iterator[None]:
    """A database error that means "try again later" as :class:`StorageUnavailable`."""
    try:
        yield
    except exc.SQLAlchemyError as e:
        if is_unavailable(e):
            raise StorageUnavailable("database unavailable") from None
        raise


@contextlib.contextmanager
def session_scope(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-mostly session that commits on success and rolls back on error."""
    session = session_factory()
    try:
        yield session
        session.commit()
    except exc.SQLAlchemyError as e:
        session.rollback()
        if is_unavailable(e):
            raise StorageUnavailable("database unavailable") from None
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
