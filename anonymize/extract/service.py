"""The extract service: jobs that build anonymized extracts from the vault, and what follows them.

One object the API, the console, the CLI and the container call. It owns no use case itself;
each call goes to its owner, given an :class:`anonymize.extract.deps.ExtractDeps` made at the
call from what the service holds then (tests replace its clock, directory and table roots).
Use cases take plain values and a unit of work, check the role, record their audit event with
the change, and return plain values:

* :meth:`ExtractService.submit` (role ``analyst``): validate a spec against
  the vault (:func:`anonymize.extract.source.plan`) and queue a job:
  :mod:`anonymize.extract.submission`;
* :meth:`ExtractService.get` / :meth:`ExtractService.search`: state and
  progress; analysts see their own extracts, the DPO every one; and
  :meth:`ExtractService.open_file`: a finished extract's file, hashed as it is
  served and audited (who, which file, its SHA-256); the dashboard's
  :func:`recent_extracts`: :mod:`anonymize.extract.reads`;
* :meth:`ExtractService.reidentify` (role ``dpo``): the subject ids behind one
  pseudonym of one extract, with a reason, audited: :mod:`anonymize.extract.reidentify_pseudonym`;
* :meth:`ExtractService.put_attributes` (role ``service``): store subjects'
  risk attributes, sealed under their data keys: :mod:`anonymize.extract.attribute_writes`;
* roles and the requester: :mod:`anonymize.extract.roles`; the job rows, states and files:
  :mod:`anonymize.extract.job_rows`; pseudonym keys: :mod:`anonymize.extract.keys`;
* the queue (claim, give back, fail): :mod:`anonymize.extract.job_queue`; running a job:
  :mod:`anonymize.extract.execution`; ``piivault jobs run``: :mod:`anonymize.extract.scheduled`;
  the in-process threads: :mod:`anonymize.extract.worker`.

Jobs live in ``anonymize_extracts`` (queued -> running -> succeeded | failed;
any of them -> expired). A worker claims the oldest queued job under a row
lock (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's write lock) and a
compare-and-set, so two workers - threads of one app, gunicorn workers,
``piivault jobs run`` - never run the same job. A job writes its progress and
a heartbeat; one whose heartbeat stops (a killed process) is queued again by
the next ``piivault jobs run``, at most :data:`MAX_ATTEMPTS` times.

A job that pseudonymizes gets a fresh system data key (wrapped by the KEK,
never stored in clear) named after the extract, so no two extracts can be
joined; its re-identification mapping is stored sealed under that key
(:mod:`anonymize.extract.reidentification`). When the extract expires
(``expires_in_days``) ``piivault jobs run`` destroys the key, the mapping and
the files: re-identification then fails with 410 Gone. The destruction is
written to the erasure ledger like a subject's shred, so a restored database
backup cannot bring the key back (``piivault keys replay-erasures``).

On success the manifest (spec SHA-256, every file's SHA-256, counts, k and l,
parameters; no PII) is recorded as the audit event ``extract.completed``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy.orm import Session, sessionmaker

from anonymize.extract import attribute_writes, execution, reads, reidentify_pseudonym, scheduled, submission
from anonymize.extract.attribute_writes import MAX_ATTRIBUTE_ITEMS
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.job_queue import MAX_ATTEMPTS, WORKER_ACTOR, ExtractInterrupted
from anonymize.extract.job_rows import (
    EXPIRED,
    EXTRACT_ID,
    FAILED,
    FILES,
    MAX_PAGE,
    QUEUED,
    RUNNING,
    STATES,
    SUCCEEDED,
    media_type,
    new_extract_id,
)
from anonymize.extract.keys import forget_destroyed, key_name
from anonymize.extract.reads import recent_extracts
from anonymize.extract.reidentify_pseudonym import REASON_LENGTH
from anonymize.extract.roles import ATTRIBUTE_ROLES, READ_ROLES, REIDENTIFY_ROLES, SUBMIT_ROLES, Requester
from anonymize.extract.scheduled import JOBS_ACTOR, STALE_AFTER, JobReport
from anonymize.extract.worker import ExtractWorker
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork, utcnow
from vault import Keyring

# What callers import from here (the API, the CLI, the console, the tests) stays here.
__all__ = [
    "ATTRIBUTE_ROLES",
    "EXPIRED",
    "EXTRACT_ID",
    "FAILED",
    "FILES",
    "JOBS_ACTOR",
    "MAX_ATTEMPTS",
    "MAX_ATTRIBUTE_ITEMS",
    "MAX_PAGE",
    "QUEUED",
    "READ_ROLES",
    "REASON_LENGTH",
    "REIDENTIFY_ROLES",
    "RUNNING",
    "STALE_AFTER",
    "STATES",
    "SUBMIT_ROLES",
    "SUCCEEDED",
    "WORKER_ACTOR",
    "ExtractInterrupted",
    "ExtractService",
    "ExtractWorker",
    "JobReport",
    "Requester",
    "build_extract_service",
    "key_name",
    "media_type",
    "new_extract_id",
    "recent_extracts",
]


@dataclasses.dataclass
class ExtractService:
    session_factory: sessionmaker[Session]
    uow_factory: Callable[[], UnitOfWork]
    keyring: Keyring
    consent: Any  # consent.service.ConsentService: its purpose catalogue
    field_types: FieldTypeRegistry
    extract_dir: Path | None
    worker_threads: int = 1
    # Spark masters besides local ones that a spec may name (the operator's PIIVAULT_EXTRACT_SPARK_MASTERS).
    spark_masters: frozenset[str] = frozenset()
    # Where a spec's risk table may be read (the operator's PIIVAULT_EXTRACT_TABLE_ROOTS); none: nowhere.
    table_roots: frozenset[str] = frozenset()
    # The most rows a Spark job partitions again on the driver for its report's single-machine
    # comparison (the operator's PIIVAULT_EXTRACT_COMPARE_ROWS): the driver's memory is the operator's.
    compare_rows: int | None = None  # None: the runner's default
    clock: Callable[[], dt.datetime] = utcnow
    # Four eyes on re-identification (access.gate.FourEyes), wired by the composition root;
    # None refuses it (fail closed).
    four_eyes: Any = None
    _worker: ExtractWorker | None = dataclasses.field(default=None, init=False, repr=False)
    _worker_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def deps(self) -> ExtractDeps:
        """What the use cases are given, as the service holds it now."""
        return ExtractDeps(
            session_factory=self.session_factory,
            uow=self.uow_factory,
            keyring=self.keyring,
            consent=self.consent,
            field_types=self.field_types,
            extract_dir=self.extract_dir,
            spark_masters=self.spark_masters,
            table_roots=self.table_roots,
            compare_rows=self.compare_rows,
            clock=self.clock,
            four_eyes=self.four_eyes,
        )

    # -- risk attributes: anonymize.extract.attribute_writes ------------------------------
    def put_attributes(
        self, uow: UnitOfWork, requester: Requester, items: Sequence[Mapping[str, Any]], **kw: Any
    ) -> dict[str, int]:
        """Replace subjects' risk attributes: :func:`anonymize.extract.attribute_writes.put_attributes`."""
        return attribute_writes.put_attributes(self.deps, uow, requester, items, **kw)

    # -- jobs: submit and read (anonymize.extract.submission, anonymize.extract.reads) ----
    def submit(
        self, uow: UnitOfWork, requester: Requester, raw_spec: Any, *, request_id: str | None = None
    ) -> dict[str, Any]:
        """Validate a spec and queue its job: :func:`anonymize.extract.submission.submit`."""
        return submission.submit(self.deps, uow, requester, raw_spec, request_id=request_id)

    def get(self, uow: UnitOfWork, requester: Requester, extract_id: str) -> dict[str, Any]:
        """One extract's state, progress, result and files: :func:`anonymize.extract.reads.get`."""
        return reads.get(uow, requester, extract_id)

    def search(
        self, uow: UnitOfWork, requester: Requester, *, state: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The newest extracts the requester may see: :func:`anonymize.extract.reads.search`."""
        return reads.search(uow, requester, state=state, limit=limit)

    def open_file(
        self, uow: UnitOfWork, requester: Requester, extract_id: str, name: str, **kw: Any
    ) -> tuple[IO[bytes], str, dict[str, Any]]:
        """A finished extract's file, checked and audited: :func:`anonymize.extract.reads.open_file`."""
        return reads.open_file(self.deps, uow, requester, extract_id, name, **kw)

    # -- re-identification: anonymize.extract.reidentify_pseudonym -------------------------------------
    def reidentify(self, uow: UnitOfWork, requester: Requester, extract_id: str, **kw: Any) -> dict[str, Any]:
        """The subject ids behind one pseudonym (``column``, ``pseudonym``, ``reason``, ``request_id``):
        :func:`anonymize.extract.reidentify_pseudonym.reidentify`."""
        return reidentify_pseudonym.reidentify(self.deps, uow, requester, extract_id, **kw)

    # -- running jobs: anonymize.extract.execution -----------------------------------------
    def run_next(
        self, worker: str, should_stop: Callable[[], bool] | None = None, progress: Any = None
    ) -> str | None:
        """Claim the oldest queued job and run it: :func:`anonymize.extract.execution.run_next`."""
        return execution.run_next(self.deps, worker, should_stop, progress)

    def run_one(self, extract_id: str, worker: str, progress: Any = None) -> dict[str, Any]:
        """Run the queued job ``extract_id`` in this thread: :func:`anonymize.extract.execution.run_one`."""
        return execution.run_one(self.deps, extract_id, worker, progress)

    def forget_destroyed(self, session: Session, owners: Sequence[str]) -> None:
        """The keyring's destroy listener: :func:`anonymize.extract.keys.forget_destroyed`."""
        forget_destroyed(session, owners)

    # -- scheduled work (``piivault jobs run``): anonymize.extract.scheduled ------------------
    def run_jobs(self, *, limit: int = 20, now: dt.datetime | None = None) -> JobReport:
        """Requeue, expire, then run queued jobs: :func:`anonymize.extract.scheduled.run_jobs`."""
        return scheduled.run_jobs(self.deps, limit=limit, now=now)

    def expire_due(self, now: dt.datetime | None = None, report: JobReport | None = None) -> int:
        """Expire every extract past its ``expires_at``: :func:`anonymize.extract.scheduled.expire_due`."""
        return scheduled.expire_due(self.deps, now, report)

    # -- the in-process worker: anonymize.extract.worker ----------------------------------------
    def wake(self) -> None:
        """Tell the in-process worker a job was queued (started on first use; none with 0 threads)."""
        if self.worker_threads <= 0:
            return
        with self._worker_lock:  # two requests at once must not start two workers
            if self._worker is None:
                self._worker = ExtractWorker(self.run_next, self.worker_threads)
        self._worker.wake()

    def close(self) -> None:
        """Stop the in-process worker (a running job goes back to the queue)."""
        if self._worker is not None:
            self._worker.stop()


def build_extract_service(
    settings: Any,
    *,
    session_factory: sessionmaker[Session],
    uow_factory: Callable[[], UnitOfWork],
    keyring: Keyring,
    consent: Any,
    field_types: FieldTypeRegistry,
    four_eyes: Any = None,
) -> ExtractService:
    """The service as the composition root wires it (:class:`piivault.container.Container`); no I/O."""
    configured = settings.extract_dir
    if configured:
        directory: Path | None = Path(configured)
    else:
        # Development and tests write under ./var; production must say where.
        directory = None if settings.env == "production" else Path("var") / "extracts"
    return ExtractService(
        session_factory=session_factory,
        uow_factory=uow_factory,
        keyring=keyring,
        consent=consent,
        field_types=field_types,
        four_eyes=four_eyes,
        extract_dir=directory,
        worker_threads=settings.extract_worker_threads,
        spark_masters=frozenset(m.strip() for m in settings.extract_spark_masters.split(",") if m.strip()),
        table_roots=frozenset(r.strip() for r in settings.extract_table_roots.split(",") if r.strip()),
        compare_rows=settings.extract_compare_rows,
    )
