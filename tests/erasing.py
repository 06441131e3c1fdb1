"""Erase a subject in a test the way production does: :func:`consent.erasure.erase`, the one
erasure use case (a data-subject request's, the scheduled shred's), here without a request; and
watch, on PostgreSQL, a writer or an erasure wait for the other's lock."""

from __future__ import annotations

import threading
import time
from typing import Any

from consent import erasure


def erase_subject(container: Any, subject_id: str, *, actor: str = "dpo:test") -> dict[str, Any]:
    """Erase ``subject_id`` now (restricted instead if a hold applies); returns the outcome."""
    with container.uow() as uow:
        consent = container.consent
        outcome = erasure.erase(
            consent.erasure_deps, uow.session, uow, subject_id, dsr_id=None, actor=actor, now=consent.clock()
        )
        uow.commit()
    return outcome


def connection_pid(conn) -> int:
    """The server process of the connection ``conn`` (tests.wire's ``backend_pid`` takes an engine)."""
    return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def blocked_by(container, blocker: int, thread: threading.Thread, *, lock: str | None = None) -> bool:
    """Whether a backend of the database waits for a lock that backend ``blocker`` holds, while
    ``thread`` runs (the thread's own backend, which it then is); with ``lock``, whether the
    first such wait is for a lock of that kind (pg_stat_activity's ``wait_event``: ``advisory``,
    ``tuple``, ``transactionid``): a wait for another kind answers False at once. False too
    after a minute without such a wait, as the thread may wait for another backend."""
    deadline = time.monotonic() + 60
    with container.engine.connect() as conn:
        while thread.is_alive() and time.monotonic() < deadline:
            waits = (
                conn.exec_driver_sql(
                    "SELECT wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND %s::integer = ANY(pg_blocking_pids(pid))",
                    (blocker,),
                )
                .scalars()
                .all()
            )
            conn.rollback()
            if waits:
                return lock is None or lock in waits
            time.sleep(0.01)
    return False
