"""The extract jobs' scheduled work (``piivault jobs run``): jobs whose worker stopped answering
queued again (at most :data:`~anonymize.extract.job_queue.MAX_ATTEMPTS` times), extracts past
their ``expires_at`` expired - pseudonym key destroyed (ledgered), mapping and files deleted -
then queued jobs run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading

import sqlalchemy as sa

from anonymize.extract import job_rows as rows
from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.execution import run_next
from anonymize.extract.job_queue import MAX_ATTEMPTS, fail
from anonymize.extract.job_rows import EXPIRED, FAILED, QUEUED, RUNNING, SUCCEEDED, e
from anonymize.extract.keys import forget_key
from audit.events import AuditEvent
from piivault.sql import for_update

STALE_AFTER = dt.timedelta(minutes=10)
JOBS_ACTOR = "piivault.jobs"


@dataclasses.dataclass
class JobReport:
    run: int = 0
    succeeded: int = 0
    failed: int = 0
    expired: int = 0
    requeued: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def run_jobs(deps: ExtractDeps, *, limit: int = 20, now: dt.datetime | None = None) -> JobReport:
    """Queue stale jobs again, expire what is due (keys destroyed), then run queued jobs.

    Idempotent and safe to run twice at once. Raises StorageUnavailable, VaultUnavailable.
    """
    report = JobReport()
    now = now or deps.clock()
    _requeue_stale(deps, now, report)
    expire_due(deps, now, report)
    worker = f"jobs:{os.getpid()}:{threading.get_ident()}"
    while report.run < limit:
        extract_id = run_next(deps, worker)
        if extract_id is None:
            break
        report.run += 1
        with deps.session_factory() as session:
            state = session.scalar(sa.select(e.state).where(e.extract_id == extract_id))
        if state == SUCCEEDED:
            report.succeeded += 1
        elif state == FAILED:
            report.failed += 1
    return report


def _requeue_stale(deps: ExtractDeps, now: dt.datetime, report: JobReport) -> None:
    with deps.session_factory() as session:
        stale = session.execute(
            sa.select(e.extract_id, e.attempts, e.worker).where(
                e.state == RUNNING, e.heartbeat_at < now - STALE_AFTER
            )
        ).all()
    for extract_id, attempts, worker in stale:
        if attempts >= MAX_ATTEMPTS:
            fail(deps, extract_id, worker, "worker_lost", "the worker stopped answering", None)
            report.failed += 1
            continue
        with deps.session_factory() as session:
            done = session.execute(
                t.extracts.update()
                .where(e.extract_id == extract_id, e.state == RUNNING, e.worker == worker)
                .values(state=QUEUED, worker=None, phase=QUEUED, progress=0.0)
            )
            session.commit()
        report.requeued += int(bool(done.rowcount))


def expire_due(deps: ExtractDeps, now: dt.datetime | None = None, report: JobReport | None = None) -> int:
    """Expire every extract past its ``expires_at``: destroy its pseudonym key, mapping and files.

    A running job is left to finish (it expires on the next run). Each
    expiry is audited (``extract.expire``). Returns how many expired.
    """
    now = now or deps.clock()
    with deps.session_factory() as session:
        due = list(
            session.scalars(
                sa.select(e.extract_id)
                .where(e.state.in_((QUEUED, SUCCEEDED, FAILED)), e.expires_at <= now)
                .order_by(e.expires_at)
            )
        )
    expired = 0
    for extract_id in due:
        with deps.uow() as uow:
            session = uow.session
            assert session is not None
            stmt = sa.select(t.extracts).where(
                e.extract_id == extract_id, e.state.in_((QUEUED, SUCCEEDED, FAILED))
            )
            row = session.execute(for_update(stmt, session, skip_locked=True)).first()
            if row is None:  # expired or claimed by a concurrent run
                continue
            destroyed = forget_key(deps.keyring, session, row, "extract-expired")
            session.execute(
                t.extracts.update()
                .where(e.extract_id == extract_id)
                .values(state=EXPIRED, phase=None, expired_at=now, key_name=None)
            )
            uow.record(
                AuditEvent(
                    action="extract.expire",
                    actor=JOBS_ACTOR,
                    purpose=row.purpose,
                    details={"extract_id": extract_id, "was": row.state, "key_destroyed": destroyed},
                )
            )
            uow.commit()
        rows.remove(deps.directory_or_none(extract_id))
        expired += 1
    if report is not None:
        report.expired += expired
    return expired
