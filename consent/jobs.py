"""``piivault jobs run``: carry out what is due - consent expiries and scheduled shreds.

Safe from cron, idempotent, and safe to run twice at once:

* an expiry is a record with ``expiry_of`` = the grant it ends, unique, inserted
  with ON CONFLICT DO NOTHING: two runs expire a grant once;
* a shred job is taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL
  (SQLite transactions hold the write lock) and re-read under the lock: a job
  another run finished, or holds, is skipped; one transaction per job shreds
  and marks it done together, so a failure leaves it pending for the next run.

Holds in force when a shred falls due (a legal hold placed meanwhile) move the
shred to their end instead.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from audit.events import AuditEvent
from consent import erasure
from consent import tables as t
from piivault.ids import new_id
from piivault.sql import existing, for_update, insert_ignore
from privacy import holds, subjects
from privacy import model as m
from privacy import tables as pt

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable

    from sqlalchemy.orm import Session, sessionmaker

    from piivault.db import UnitOfWork
    from privacy.catalogue import LivePurposeCatalogue

ACTOR = "piivault.jobs"
BATCH = 500
_r, _j = pt.records.c, t.jobs.c


@dataclasses.dataclass(frozen=True)
class JobDeps:
    """What the jobs use: the catalogue seeded first, their own sessions and units of work,
    the clock, and the erasure (its certificates signed right after each shred commits)."""

    catalogue: LivePurposeCatalogue
    session_factory: sessionmaker[Session]
    uow_factory: Callable[[], UnitOfWork]
    clock: Callable[[], dt.datetime]
    erasure: erasure.ErasureDeps


@dataclasses.dataclass
class JobReport:
    expired: int = 0
    shredded: int = 0
    rescheduled: int = 0
    skipped: int = 0
    overdue_requests: int = 0
    certificates: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def run(deps: JobDeps, *, limit: int = 10_000) -> JobReport:
    """Run every due job once. Raises StorageUnavailable, VaultUnavailable, ConfigurationError."""
    deps.catalogue.ensure_seeded()
    report = JobReport()
    expire_consents(deps, report, limit)
    run_shreds(deps, report, limit)
    now = deps.clock()
    with deps.session_factory() as session:
        d = t.dsr_requests.c
        report.overdue_requests = int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(t.dsr_requests)
                .where(d.state.in_(("received", "identity_verified", "approved")), d.due_at < now)
            )
            or 0
        )
    return report


def _due_expiries(limit: int) -> sa.Select:
    later = pt.records.alias("later")
    newer = (
        sa.select(later.c.id)
        .where(
            later.c.subject_id == _r.subject_id,
            later.c.purpose_code == _r.purpose_code,
            sa.or_(
                later.c.effective_at > _r.effective_at,
                sa.and_(later.c.effective_at == _r.effective_at, later.c.id > _r.id),
            ),
        )
        .exists()
    )
    return (
        sa.select(_r.id, _r.subject_id, _r.purpose_code, _r.expires_at)
        .where(
            _r.action.in_((m.GRANT, m.RENEW)),
            _r.expires_at <= sa.bindparam("now"),
            ~newer,
        )
        .order_by(_r.id)
        .limit(limit)
    )


def expire_consents(deps: JobDeps, report: JobReport, limit: int) -> None:
    """Append an ``expire`` record to every consent whose expiry passed (audited per consent)."""
    while report.expired < limit:
        now = deps.clock()
        with deps.uow_factory() as uow:
            session = uow.session
            assert session is not None
            due = session.execute(_due_expiries(min(BATCH, limit - report.expired)), {"now": now}).all()
            if not due:
                return
            # An erasure deletes the grants: one under way is waited for, and what it deleted
            # gets no expiry record (none would be erased after it); a later one deletes them.
            subjects.keep_from_erasure(session, {row.subject_id for row in due})
            standing = existing(session, _r.id, [row.id for row in due])
            done = 0
            for grant_id, subject_id, purpose, expires_at in due:
                if grant_id not in standing:
                    continue
                record_id = new_id("cns_")
                inserted = insert_ignore(
                    session,
                    pt.records,
                    {
                        "record_id": record_id,
                        "subject_id": subject_id,
                        "purpose_code": purpose,
                        "action": m.EXPIRE,
                        "notice_version": None,
                        "separate": False,
                        "channel": None,
                        "effective_at": expires_at,
                        "expires_at": None,
                        "evidence": None,
                        "source": "job",
                        "recorded_by": ACTOR,
                        "recorded_at": now,
                        "receipt_id": None,
                        "request_id": None,
                        "expiry_of": grant_id,
                    },
                    ["expiry_of"],
                )
                if inserted:
                    done += 1
                    uow.record(
                        AuditEvent(
                            action="consent.expire",
                            actor=ACTOR,
                            subject_id=subject_id,
                            purpose=purpose,
                            details={"record_id": record_id, "expired_at": m.iso(expires_at)},
                        )
                    )
            uow.commit()
        report.expired += done
        if len(due) < BATCH or done == 0:
            return


def run_shreds(deps: JobDeps, report: JobReport, limit: int) -> None:
    """Shred every subject whose scheduled shred is due and whose holds all ended."""
    now = deps.clock()
    with deps.session_factory() as session:
        jobs = session.execute(
            sa.select(_j.job_key, _j.subject_id)
            .where(_j.kind == erasure.SHRED, _j.state == "pending", _j.due_at <= now)
            .order_by(_j.due_at, _j.job_key)
            .limit(limit)
        ).all()
    for key, subject_id in jobs:
        certificate = _shred_one(deps, key, subject_id, report)
        if certificate is not None:
            report.certificates.append(certificate)
            deps.erasure.receipts.finalize_receipt(certificate)


def _shred_one(deps: JobDeps, key: str, subject_id: str, report: JobReport) -> str | None:
    now = deps.clock()
    with deps.uow_factory() as uow:
        session = uow.session
        assert session is not None
        # The erasure's lock before the job's row and the holds (as every erasure takes it): a
        # hold being placed is waited for and then seen, and a later one finds the subject erased.
        subjects.lock_for_erasure(session, subject_id)
        stmt = sa.select(t.jobs).where(_j.job_key == key, _j.state == "pending", _j.due_at <= now)
        job = session.execute(for_update(stmt, session, skip_locked=True)).first()
        if job is None:  # done, rescheduled or being done by a concurrent run
            report.skipped += 1
            return None
        active = holds.active(session, job.subject_id, now)
        if active:
            every, end = holds.last_end(active)
            session.execute(t.jobs.update().where(_j.job_key == key).values(due_at=end if every else None))
            uow.record(
                AuditEvent(
                    action="job.reschedule",
                    actor=ACTOR,
                    subject_id=job.subject_id,
                    details={
                        "job": erasure.SHRED,
                        "dsr_id": job.dsr_id,
                        "due_at": m.iso(end if every else None),
                    },
                )
            )
            uow.commit()
            report.rescheduled += 1
            return None
        certificate = erasure.shred_now(
            deps.erasure, session, uow, job.subject_id, dsr_id=job.dsr_id, actor=ACTOR, now=now
        )
        session.execute(
            t.jobs.update()
            .where(_j.job_key == key)
            .values(state="done", done_at=now, result=json.dumps({"certificate_id": certificate}))
        )
        uow.commit()
    report.shredded += 1
    return certificate
