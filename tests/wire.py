"""What an engine's psycopg connections send PostgreSQL, read from libpq's own trace; and a
connection's server process, to kill it as a restart or a firewall would.

SQLAlchemy's events see only what SQLAlchemy executes; a statement run on the
driver's connection (:mod:`piivault.direct`) passes them by. libpq's trace
(``PQtrace``) records every protocol message a connection sends and receives,
whoever sent it. :func:`traced` turns it on for each connection an engine hands
out while the block runs, and :class:`Wire` reads what was sent.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy import event

from piivault import direct as direct_module
from piivault.direct import DirectRead


@dataclass
class Wire:
    traces: list[str] = field(default_factory=list)  # per checkout, once the block has ended
    autocommit: list[bool] = field(default_factory=list)  # per checkout: the connection's mode

    def messages(self) -> list[tuple[str, str, str]]:
        """(direction F or B, message type, its text) of every message, in order per connection."""
        out = []
        for trace in self.traces:
            for line in trace.splitlines():
                parts = line.split("\t")
                if len(parts) >= 4:
                    out.append((parts[1], parts[3], parts[4] if len(parts) > 4 else ""))
        return out

    def executions(self) -> int:
        """Statements run: extended-protocol Executes and simple Queries (BEGIN, COMMIT, ...)."""
        return sum(1 for d, kind, _ in self.messages() if d == "F" and kind in ("Execute", "Query"))

    def queries(self) -> list[str]:
        """The text of the simple-protocol queries sent (psycopg's BEGIN and COMMIT go so)."""
        return [text.strip().strip('"') for d, kind, text in self.messages() if d == "F" and kind == "Query"]

    def transaction_states(self) -> set[str]:
        """The server's transaction state after each message cycle: I idle, T in one, E failed."""
        return {text.strip() for d, kind, text in self.messages() if d == "B" and kind == "ReadyForQuery"}


@contextlib.contextmanager
def traced(engine: sa.Engine) -> Iterator[Wire]:
    """Trace every connection ``engine`` hands out until the block ends."""
    wire = Wire()
    tracing: list[tuple[Any, IO[bytes]]] = []

    with contextlib.ExitStack() as files:

        def on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            f = files.enter_context(tempfile.TemporaryFile())
            wire.autocommit.append(dbapi_conn.autocommit)
            dbapi_conn.pgconn.trace(f.fileno())
            tracing.append((dbapi_conn, f))

        event.listen(engine, "checkout", on_checkout)
        try:
            yield wire
        finally:
            event.remove(engine, "checkout", on_checkout)
            for conn, f in tracing:
                with contextlib.suppress(Exception):  # a connection closed meanwhile traces no more
                    conn.pgconn.untrace()
                f.seek(0)
                wire.traces.append(f.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def statements(engine: sa.Engine) -> Iterator[list[tuple[str, str]]]:
    """(by whom, SQL text) of every statement run on ``engine``'s connections until the block
    ends, in order: ``"core"`` for those Core executes (its ``before_cursor_execute`` event),
    ``"driver"`` for those a :class:`~piivault.direct.DirectRead` of ``engine`` or
    :func:`~piivault.direct.write_alone` runs on the driver, which Core never sees."""
    seen: list[tuple[str, str]] = []

    def core(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(("core", statement))

    execute = DirectRead._execute

    def direct(read: DirectRead, conn: Any, values: dict[str, Any], *, one: bool) -> Any:
        if read._engine is engine:
            seen.append(("driver", read._sql))
        return execute(read, conn, values, one=one)

    send = direct_module._send

    def write(of: sa.Engine, conn: Any, sql: str, params: Any) -> int:
        if of is engine:
            seen.append(("driver", sql))
        return send(of, conn, sql, params)

    event.listen(engine, "before_cursor_execute", core)
    DirectRead._execute = direct  # type: ignore[method-assign]
    direct_module._send = write
    try:
        yield seen
    finally:
        direct_module._send = send
        DirectRead._execute = execute  # type: ignore[method-assign]
        event.remove(engine, "before_cursor_execute", core)


def backend_pid(engine: sa.Engine) -> int:
    """The server process of the connection ``engine`` hands out next (a pool of one: its only)."""
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def terminate(url: str, pid: int) -> None:
    """End server process ``pid`` from another connection: its client finds the connection lost."""
    admin = sa.create_engine(url)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        admin.dispose()
