"""The job queue's transitions: claiming the oldest queued job under a row lock and a
compare-and-set (so two workers never run the same job), giving a job back to the queue when
a dependency fails or the worker stops, and failing it (key, mapping and files destroyed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from anonymize.extract import job_rows as rows
from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.job_rows import QUEUED, RUNNING, e
from anonymize.extract.keys import forget_key
from audit.events import AuditEvent
from piivault.errors import PiivaultError, UnavailableError
from piivault.sql import for_update

# The service's logger, as before the split: log filters and alert rules name it.
log = logging.getLogger("anonymize.extract.service")

MAX_ATTEMPTS = 3
WORKER_ACTOR = "piivault.extracts"


class ExtractInterrupted(UnavailableError):
    """The worker is stopping: the job goes back to the queue."""

    code = "extract_interrupted"


def claim(deps: ExtractDeps, worker: str, extract_id: str | None = None) -> str | None:
    """Mark the oldest queued job (or ``extract_id`` if queued) running for ``worker``; its id, or None."""
    with deps.session_factory() as session:
        stmt = sa.select(e.extract_id, e.attempts).where(e.state == QUEUED)
        if extract_id is not None:
            stmt = stmt.where(e.extract_id == extract_id)
        stmt = stmt.order_by(e.created_at, e.extract_id).limit(1)
        row = session.execute(for_update(stmt, session, skip_locked=True)).first()
        if row is None:
            return None
        now = deps.clock()
        claimed = session.execute(
            t.extracts.update()
            .where(e.extract_id == row.extract_id, e.state == QUEUED)
            .values(
                state=RUNNING,
                worker=worker,
                attempts=row.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                phase="starting",
                progress=0.0,
            )
        )
        session.commit()
        return row.extract_id if claimed.rowcount else None


def give_back(
    deps: ExtractDeps, extract_id: str, worker: str, error: PiivaultError, out: Path | None
) -> None:
    """A dependency failed or the worker stops: queue the job again, or fail it after MAX_ATTEMPTS."""
    try:
        with deps.session_factory() as session:
            attempts = session.scalar(sa.select(e.attempts).where(e.extract_id == extract_id)) or 0
            if attempts >= MAX_ATTEMPTS and not isinstance(error, ExtractInterrupted):
                session.rollback()
                fail(deps, extract_id, worker, error.code, error.message, out)
                return
            session.execute(
                t.extracts.update()
                .where(e.extract_id == extract_id, e.state == RUNNING, e.worker == worker)
                .values(state=QUEUED, worker=None, phase=QUEUED, progress=0.0, heartbeat_at=None)
            )
            session.commit()
        rows.remove(out)
        log.warning("extract %s queued again: %s", extract_id, error.code)
    except PiivaultError as err:  # the database is down too: the heartbeat check requeues it later
        log.error("extract %s could not be queued again: %s", extract_id, err.code)
    except sa.exc.SQLAlchemyError as err:
        log.error("extract %s could not be queued again: %s", extract_id, type(err).__name__)


def fail(
    deps: ExtractDeps, extract_id: str, worker: str | None, code: str, detail: str, out: Path | None
) -> None:
    """Mark the job failed, destroy its key and mapping, remove its files; audited."""
    try:
        with deps.uow() as uow:
            session = uow.session
            assert session is not None
            row = rows.row(session, extract_id)
            stmt = t.extracts.update().where(e.extract_id == extract_id, e.state.in_((QUEUED, RUNNING)))
            if worker is not None:
                stmt = stmt.where(e.worker == worker)
            done = session.execute(
                stmt.values(
                    state=rows.FAILED,
                    phase=None,
                    finished_at=deps.clock(),
                    error_code=code,
                    error_detail=detail[:2000],
                    key_name=None,
                )
            )
            if not done.rowcount:
                return
            destroyed = forget_key(deps.keyring, session, row, "extract-failed")
            uow.record(
                AuditEvent(
                    action="extract.failed",
                    actor=WORKER_ACTOR,
                    outcome="error",
                    purpose=row.purpose,
                    details={"extract_id": extract_id, "error": code, "key_destroyed": destroyed},
                )
            )
            uow.commit()
        rows.remove(out if out is not None else deps.directory_or_none(extract_id))
    except (PiivaultError, sa.exc.SQLAlchemyError) as err:
        log.error("extract %s: could not record its failure (%s)", extract_id, type(err).__name__)
