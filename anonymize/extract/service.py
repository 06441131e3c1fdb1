"""The extract service: jobs that build anonymized extracts from the vault, and what follows them.

Use cases (each takes plain values and a unit of work, checks the role,
records its audit event with the change, and returns plain values):

* :meth:`ExtractService.submit` (role ``analyst``): validate a spec against
  the vault (:func:`anonymize.extract.source.plan`) and queue a job;
* :meth:`ExtractService.get` / :meth:`ExtractService.search`: state and
  progress; analysts see their own extracts, the DPO every one;
* :meth:`ExtractService.open_file`: a finished extract's file, hashed as it is
  served and audited (who, which file, its SHA-256);
* :meth:`ExtractService.reidentify` (role ``dpo``): the subject ids behind one
  pseudonym of one extract, with a reason, audited;
* :meth:`ExtractService.put_attributes` (role ``service``): store subjects'
  risk attributes, sealed under their data keys.

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
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from anonymize.extract import attributes, reidentification
from anonymize.extract import tables as t
from anonymize.extract._checks import Problems
from anonymize.extract.errors import (
    ExtractCheckFailed,
    ExtractExpired,
    ExtractForbidden,
    ExtractNotFound,
    ExtractNotReady,
    InvalidAttributes,
    InvalidPseudonym,
    PseudonymNotFound,
)
from anonymize.extract.outputs import (
    CHART_NAME,
    CSV_NAME,
    MANIFEST_NAME,
    PARQUET_NAME,
    PART_PATTERN,
    REPORT_HTML,
    REPORT_HTML_BY_LANGUAGE,
    REPORT_JSON,
)
from anonymize.extract.pseudonyms import PSEUDONYM_CHARS
from audit.canonical import canonical_json
from audit.events import MAX_DETAILS_BYTES, AuditEvent
from consent import purposes as consent_purposes
from identity.clients.model import WRITE_ATTRIBUTES
from piivault.db import UnitOfWork, utcnow
from piivault.errors import ConfigurationError, PiivaultError, UnavailableError, ValidationFailed
from piivault.ids import new_id
from piivault.sql import chunked, for_update
from tokenization import subjects
from tokenization.fieldtypes import FieldTypeRegistry
from vault import DataKey, Keyring, subject_owner, system_owner

if TYPE_CHECKING:
    from anonymize.extract import source
    from anonymize.extract.runner import ExtractResult
    from anonymize.extract.spec import ExtractSpec, SpecDraft

# The spec, the source and the runner (numpy, pandas, pyarrow, matplotlib) are imported
# where a job is submitted or run: every command builds this service, few run extracts.

log = logging.getLogger(__name__)

# Who may do what with extracts and risk attributes: decided here; /v1/extracts and
# /v1/attributes require these same tuples.
SUBMIT_ROLES = ("analyst",)
READ_ROLES = ("analyst", "dpo")
REIDENTIFY_ROLES = ("dpo",)
ATTRIBUTE_ROLES = ("service",)
STATES = t.STATES  # a job's states, for the API's schema (which imports no tables module)
QUEUED, RUNNING, SUCCEEDED, FAILED, EXPIRED = STATES
MAX_ATTEMPTS = 3
STALE_AFTER = dt.timedelta(minutes=10)
PROGRESS_EVERY = 0.5  # seconds between progress writes (phase changes are written at once)
MAX_ATTRIBUTE_ITEMS = 1_000
MAX_PAGE = 200
REASON_LENGTH = (10, 500)
WORKER_ACTOR = "piivault.extracts"
JOBS_ACTOR = "piivault.jobs"
FILES: dict[str, str] = {
    CSV_NAME: "text/csv; charset=utf-8",
    PARQUET_NAME: "application/vnd.apache.parquet",
    REPORT_HTML: "text/html; charset=utf-8",
    **{name: "text/html; charset=utf-8" for name in REPORT_HTML_BY_LANGUAGE.values()},
    REPORT_JSON: "application/json",
    CHART_NAME: "image/png",
    MANIFEST_NAME: "application/json",
}
PART_TYPES = {"parquet": FILES[PARQUET_NAME], "csv": FILES[CSV_NAME]}


def media_type(name: str) -> str | None:
    """The media type of an extract's file ``name`` (a fixed name, or a Spark extract's part), or None."""
    part = PART_PATTERN.fullmatch(name)
    return PART_TYPES[part.group(1)] if part else FILES.get(name)


EXTRACT_ID = re.compile(r"ext_[a-z2-7]{24}")
_PSEUDONYM = re.compile(f"[0-9a-f]{{{PSEUDONYM_CHARS}}}")
_e = t.extracts.c
SUBJECT_OWNER = subject_owner("")


@dataclasses.dataclass(frozen=True)
class Requester:
    """Who asks: the audit actor, the role, the key's purposes and field types (None: no limit),
    and the permissions given to the key explicitly (``write_attributes``)."""

    actor: str
    role: str
    purposes: frozenset[str] | None = None
    field_types: frozenset[str] | None = None
    permissions: frozenset[str] = frozenset()
    # The person behind the credential (four eyes on re-identification counts persons).
    person: str | None = None

    @classmethod
    def of(cls, principal: Any) -> Requester:
        """From an authenticated API caller (``api.auth.Principal``)."""
        return cls(
            principal.actor,
            principal.role,
            frozenset(principal.purposes),
            principal.field_types,
            frozenset(getattr(principal, "permissions", ())),
            getattr(principal, "person", None),
        )


@dataclasses.dataclass
class JobReport:
    run: int = 0
    succeeded: int = 0
    failed: int = 0
    expired: int = 0
    requeued: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class ExtractInterrupted(UnavailableError):
    """The worker is stopping: the job goes back to the queue."""

    code = "extract_interrupted"


def new_extract_id() -> str:
    """``ext_`` and 24 base32 characters (120 random bits)."""
    return new_id("ext_")


def key_name(extract_id: str) -> str:
    """The name of an extract's pseudonym key among the system data keys."""
    return "extract/" + extract_id


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _require(requester: Requester, roles: tuple[str, ...], what: str) -> None:
    if requester.role not in roles:
        raise ExtractForbidden(f"role {requester.role!r} may not {what}")


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

    # -- risk attributes ------------------------------------------------------------
    def attribute_store(self) -> attributes.AttributeStore:
        """Subjects' attributes for the consent service's data-subject rights (wired by the container)."""
        return attributes.AttributeStore(frozenset({*self.field_types.codes(), "subject_id"}))

    def put_attributes(
        self,
        uow: UnitOfWork,
        requester: Requester,
        items: Sequence[Mapping[str, Any]],
        *,
        request_id: str | None = None,
    ) -> dict[str, int]:
        """Replace the risk attributes of up to 1,000 subjects (``{subject_id, attributes}`` each).

        All items or none. Raises ExtractForbidden (role, or a client without the
        explicit ``write_attributes`` permission), InvalidAttributes
        (naming the item and the rule: names, types, sizes, an unknown or
        erased subject), VaultUnavailable, StorageUnavailable.
        """
        _require(requester, ATTRIBUTE_ROLES, "store attributes")
        if WRITE_ATTRIBUTES not in requester.permissions:
            raise ExtractForbidden(
                "this client may not write attributes: it needs the write_attributes permission"
            )
        if not 1 <= len(items) <= MAX_ATTRIBUTE_ITEMS:
            raise InvalidAttributes(f"items: between 1 and {MAX_ATTRIBUTE_ITEMS} per request")
        reserved = self.attribute_store().reserved
        documents: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(items):
            subject_id = item.get("subject_id")
            if not isinstance(subject_id, str) or subject_id in documents:
                raise InvalidAttributes(f"items[{i}].subject_id: must be a subject id, once per request")
            documents[subject_id] = attributes.validate(
                item.get("attributes"), reserved, f"items[{i}].attributes"
            )
        session = uow.session
        assert session is not None
        found = subjects.states(session, list(documents))
        keys = self.keyring.data_keys(session, [subject_owner(s) for s in documents])
        for i, subject_id in enumerate(documents):
            kind_state = found.get(subject_id)
            if kind_state is None or kind_state[0] != subjects.SUBJECT:
                raise InvalidAttributes(f"items[{i}].subject_id: no such subject")
            if kind_state[1] == subjects.ERASED or subject_owner(subject_id) not in keys:
                raise InvalidAttributes(f"items[{i}].subject_id: the subject was erased")
        attributes.store(session, keys, documents, self.clock())
        for subject_id, document in sorted(documents.items()):
            uow.record(
                AuditEvent(
                    action="attributes.put",
                    actor=requester.actor,
                    subject_id=subject_id,
                    request_id=request_id,
                    details={"attributes": len(document)},
                )
            )
        uow.commit()
        return {"stored": len(documents)}

    # -- jobs: submit and read ---------------------------------------------------------
    def _check_engine(self, spec: ExtractSpec) -> ExtractSpec:
        """A remote Spark master only if the operator listed it: the driver would send it the rows' codes.
        A risk table only under the operator's roots, holding the columns read.

        Returns the spec with what its table's job is to read (the paths checked).
        Raises InvalidSpec (a 422) naming ``spark.master`` or the table's key.
        """
        from anonymize.extract.errors import InvalidSpec

        master = spec.engine.master
        remote = spec.engine.name == "spark" and not master.startswith("local")
        if remote and master not in self.spark_masters:
            raise InvalidSpec(
                {"spark.master": "is not a Spark master this vault may use (PIIVAULT_EXTRACT_SPARK_MASTERS)"}
            )
        if spec.table is not None:
            from anonymize.extract.table import check_schema, checked

            table = checked(spec.table, self.table_roots)
            check_schema(table, spec.read)
            return dataclasses.replace(spec, table=table)
        return spec

    def _check_table_values(self, spec: ExtractSpec) -> None:
        """A local risk table's released columns hold no direct identifier they would release: a
        bounded sample of its first rows, through the column scanner (:mod:`anonymize.extract.identifiers`).

        The job scans a random sample of the joined rows again (a remote table's first check).
        Raises InvalidSpec naming each column and the rule.
        """
        from anonymize.extract import identifiers
        from anonymize.extract.errors import InvalidSpec
        from anonymize.extract.table import head, is_local, table_columns

        names = table_columns(spec.read)
        if spec.table is None or not is_local(spec.table) or not names:
            return
        problems = Problems()
        # The join key too: a released column that copies it is refused.
        sample = identifiers.bounded(head(spec.table, [*names, spec.table.key], 5 * identifiers.SAMPLE_ROWS))
        identifiers.table_problems(sample, spec.read, self.field_types, problems, key=spec.table.key)
        if problems:
            raise InvalidSpec(problems)

    def submit(
        self,
        uow: UnitOfWork,
        requester: Requester,
        raw_spec: Any,
        *,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Validate a spec (a mapping, as parsed from YAML or JSON) and queue its job.

        Raises ExtractForbidden (role, or a purpose or field type not on the
        key), InvalidSpec (every problem by key path: the spec itself, an
        unknown purpose or source, a field type the purpose does not cover),
        StorageUnavailable.
        """
        from anonymize.extract import source
        from anonymize.extract.spec import parse_spec

        _require(requester, SUBMIT_ROLES, "request extracts")
        self.consent.catalogue.ensure_seeded()
        session = uow.session
        assert session is not None

        def vet(draft: SpecDraft, problems: Problems) -> None:
            # Against the vault at once, so the answer lists the spec's problems and these together.
            purpose = consent_purposes.get(session, draft.purpose) if draft.purpose is not None else None
            source.check(
                draft,
                purpose,
                self.field_types,
                attributes.known_names(session),
                problems,
                allowed_purposes=requester.purposes,
                allowed_field_types=requester.field_types,
            )

        spec = parse_spec(raw_spec, vet=vet)
        self._check_table_values(self._check_engine(spec))
        now = self.clock()
        extract_id = new_extract_id()
        expires_at = now + dt.timedelta(days=spec.expires_in_days)
        session.execute(
            t.extracts.insert().values(
                extract_id=extract_id,
                state=QUEUED,
                purpose=spec.purpose,
                requested_by=requester.actor,
                # In the analyst's column order (the output's); the hash is over the canonical form.
                spec=json.dumps(spec.to_dict(), ensure_ascii=False),
                spec_sha256=spec.sha256(),
                phase=QUEUED,
                progress=0.0,
                attempts=0,
                created_at=now,
                expires_at=expires_at,
            )
        )
        uow.record(
            AuditEvent(
                action="extract.request",
                actor=requester.actor,
                purpose=spec.purpose,
                request_id=request_id,
                details={
                    "extract_id": extract_id,
                    "spec_sha256": spec.sha256(),
                    "expires_at": _iso(expires_at),
                },
            )
        )
        uow.commit()
        return self._view(self._row(session, extract_id))

    def _plan(self, session: Session, spec: ExtractSpec) -> source.SourcePlan:
        from anonymize.extract import source

        return source.plan(
            spec,
            consent_purposes.get(session, spec.purpose),
            self.field_types,
            attributes.known_names(session),
        )

    def get(self, uow: UnitOfWork, requester: Requester, extract_id: str) -> dict[str, Any]:
        """One extract's state, progress, result and files.

        Raises ExtractForbidden (role), ExtractNotFound (none, or another
        analyst's), StorageUnavailable.
        """
        _require(requester, READ_ROLES, "read extracts")
        session = uow.session
        assert session is not None
        row = self._visible(session, requester, extract_id)
        uow.commit()
        return self._view(row)

    def search(
        self, uow: UnitOfWork, requester: Requester, *, state: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The newest extracts the requester may see (an analyst's own; every one for the DPO).

        Raises ExtractForbidden, ValidationFailed (state, limit), StorageUnavailable.
        """
        _require(requester, READ_ROLES, "read extracts")
        if state is not None and state not in t.STATES:
            raise ValidationFailed(f"state must be one of: {', '.join(t.STATES)}")
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
        stmt = sa.select(t.extracts).order_by(_e.created_at.desc(), _e.extract_id).limit(limit)
        if requester.role != "dpo":
            stmt = stmt.where(_e.requested_by == requester.actor)
        if state is not None:
            stmt = stmt.where(_e.state == state)
        session = uow.session
        assert session is not None
        found = [self._view(row) for row in session.execute(stmt)]
        uow.commit()
        return found

    def open_file(
        self,
        uow: UnitOfWork,
        requester: Requester,
        extract_id: str,
        name: str,
        *,
        request_id: str | None = None,
    ) -> tuple[IO[bytes], str, dict[str, Any]]:
        """A finished extract's file, opened for reading: ``(file, media type, {sha256, bytes})``.

        The open file is hashed before anything is returned and must match the
        digest recorded when the extract was written; the download is audited
        (who, which file, its SHA-256) before the caller sends it. The caller
        closes the file. Raises ExtractForbidden, ExtractNotFound (extract or
        file name), ExtractExpired, ExtractNotReady, ExtractCheckFailed (the
        file changed on disk), StorageUnavailable.
        """
        _require(requester, READ_ROLES, "download extracts")
        session = uow.session
        assert session is not None
        row = self._visible(session, requester, extract_id)
        if row.state == EXPIRED:
            raise ExtractExpired("the extract expired: its files were deleted")
        if row.state != SUCCEEDED:
            raise ExtractNotReady(f"the extract is {row.state}: it has no files")
        kind = media_type(name)
        expected = json.loads(row.summary)["files"].get(name) if kind is not None else None
        if kind is None or expected is None:
            raise ExtractNotFound("no such file in this extract")
        handle = (self._dir(extract_id) / name).open("rb")
        try:
            digest = _hash(handle)
            if digest != expected:
                raise ExtractCheckFailed("an extract file no longer matches its recorded SHA-256; not served")
            handle.seek(0)
            uow.record(
                AuditEvent(
                    action="extract.download",
                    actor=requester.actor,
                    purpose=row.purpose,
                    request_id=request_id,
                    details={"extract_id": extract_id, "file": name, **digest},
                )
            )
            uow.commit()
        except BaseException:
            handle.close()
            raise
        return handle, kind, digest

    # -- re-identification ------------------------------------------------------------------
    def reidentify(
        self,
        uow: UnitOfWork,
        requester: Requester,
        extract_id: str,
        *,
        column: str,
        pseudonym: str,
        reason: str,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """The subject ids behind one pseudonym of one extract's column (usually one).

        Every attempt that reaches an extract is audited (``extract.reidentify``:
        the DPO's reason, the column, the pseudonym, the subject found, the
        grant and who approved it), failed ones too. The DPO needs a grant of
        their own for ``extract.reidentify`` on this extract, approved by
        another DPO (:mod:`access.gate`). Raises ApprovalRequired (naming the
        request to approve), NoPerson, ExtractForbidden (role), ValidationFailed (reason too
        short or long, or holding something that looks like an identifier: the
        reason is kept in the audit log for good; a column that is not
        pseudonymized), InvalidPseudonym, ExtractNotFound, ExtractNotReady,
        ExtractExpired (410: the key was destroyed), PseudonymNotFound,
        VaultUnavailable, StorageUnavailable.
        """
        _require(requester, REIDENTIFY_ROLES, "re-identify pseudonyms")
        self._check_reason(reason)
        if not isinstance(pseudonym, str) or not _PSEUDONYM.fullmatch(pseudonym):
            raise InvalidPseudonym(f"a pseudonym is {PSEUDONYM_CHARS} lowercase hexadecimal characters")
        session = uow.session
        assert session is not None
        row = self._visible(session, requester, extract_id)
        spec = _stored_spec(row.spec)
        if column not in {c.output for c in spec.pseudonymized}:
            raise ValidationFailed("column: not a pseudonymized column of this extract")
        approval = self._require_four_eyes(session, requester, extract_id, request_id)

        def audited(outcome: str, subject_id: str | None = None, **extra: Any) -> AuditEvent:
            return AuditEvent(
                action="extract.reidentify",
                actor=requester.actor,
                outcome=outcome,
                subject_id=subject_id,
                purpose=row.purpose,
                reason=reason,
                request_id=request_id,
                details={
                    "extract_id": extract_id,
                    "column": column,
                    "pseudonym": pseudonym,
                    **approval,
                    **extra,
                },
            )

        key = None
        if row.state == SUCCEEDED and row.key_name is not None:
            key = self.keyring.data_keys(session, [system_owner(row.key_name)]).get(
                system_owner(row.key_name)
            )
        if row.state == EXPIRED or (row.state == SUCCEEDED and key is None):
            uow.record(audited("denied", result="key destroyed"))
            uow.commit()
            raise ExtractExpired(
                "the extract expired and its pseudonym key was destroyed: no re-identification"
            )
        if row.state != SUCCEEDED or key is None:
            raise ExtractNotReady(f"the extract is {row.state}: nothing to re-identify")
        bucket = reidentification.bucket_of(pseudonym)
        p = t.extract_pseudonyms.c
        sealed = session.scalar(sa.select(p.sealed).where(p.extract_id == extract_id, p.bucket == bucket))
        found = reidentification.find(
            key, extract_id, column, pseudonym, None if sealed is None else bytes(sealed)
        )
        if not found:
            uow.record(audited("error", result="not found"))
            uow.commit()
            raise PseudonymNotFound("no row of this extract carries that pseudonym in that column")
        for subject_id in found:
            uow.record(audited("success", subject_id, subjects=len(found)))
        uow.commit()
        return {"extract_id": extract_id, "column": column, "pseudonym": pseudonym, "subject_ids": found}

    def _require_four_eyes(
        self, session: Session, requester: Requester, extract_id: str, request_id: str | None
    ) -> dict[str, Any]:
        """The DPO's own ``extract.reidentify`` grant for this extract, approved by another DPO;
        the audit details naming both. Raises ApprovalRequired (the request filed or found is
        named), NoPerson, ConfigurationError when no gate is wired (fail closed)."""
        from access.gate import granted_details
        from access.model import REIDENTIFY, Acting

        if self.four_eyes is None:
            raise ConfigurationError("re-identification needs four eyes, and no approval gate is wired")
        acting = Acting(requester.person, requester.role, requester.actor)
        grant = self.four_eyes.require(session, acting, REIDENTIFY, extract_id, request_id=request_id)
        return granted_details(grant)

    def _check_reason(self, reason: Any) -> None:
        low, high = REASON_LENGTH
        if not isinstance(reason, str) or not low <= len(reason.strip()) <= high:
            raise ValidationFailed(f"reason must be {low} to {high} characters")
        if self.field_types.holds_identifier(reason):
            raise ValidationFailed(
                "reason must not hold a personal identifier: it is kept in the audit log for good"
            )

    # -- running jobs ------------------------------------------------------------------------
    def run_next(
        self, worker: str, should_stop: Callable[[], bool] | None = None, progress: Any = None
    ) -> str | None:
        """Claim the oldest queued job and run it; its id, or None when none was queued.

        ``progress(phase, fraction)`` is told as the job advances (the CLI's
        bar). Never raises for the job's own failure (it is recorded on the
        job); raises StorageUnavailable when no job can be claimed.
        """
        extract_id = self._claim(worker)
        if extract_id is not None:
            self._execute(extract_id, worker, should_stop, progress)
        return extract_id

    def _claim(self, worker: str, extract_id: str | None = None) -> str | None:
        with self.session_factory() as session:
            stmt = sa.select(_e.extract_id, _e.attempts).where(_e.state == QUEUED)
            if extract_id is not None:
                stmt = stmt.where(_e.extract_id == extract_id)
            stmt = stmt.order_by(_e.created_at, _e.extract_id).limit(1)
            row = session.execute(for_update(stmt, session, skip_locked=True)).first()
            if row is None:
                return None
            now = self.clock()
            claimed = session.execute(
                t.extracts.update()
                .where(_e.extract_id == row.extract_id, _e.state == QUEUED)
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

    def run_one(self, extract_id: str, worker: str, progress: Any = None) -> dict[str, Any]:
        """Run the queued job ``extract_id`` now, in this thread (the CLI); return its view.

        Raises ExtractNotReady if it is not queued (another worker took it).
        """
        if self._claim(worker, extract_id) is None:
            raise ExtractNotReady("the extract is not queued (another worker may be running it)")
        self._execute(extract_id, worker, None, progress)
        with self.session_factory() as session:
            return self._view(self._row(session, extract_id))

    def _execute(
        self, extract_id: str, worker: str, should_stop: Callable[[], bool] | None, progress: Any
    ) -> None:
        from anonymize.extract import source
        from anonymize.extract.runner import run_extract

        out = None
        key = None
        try:
            with self.session_factory() as session:
                row = self._row(session, extract_id)
                spec = _stored_spec(row.spec)
                purpose = consent_purposes.get(session, spec.purpose)
                # Checked again: the purpose or the stored attributes may have changed since submission,
                # and so may the operator's Spark masters and table roots.
                plan = self._plan(session, spec)
            spec = self._check_engine(spec)  # the table read is the one checked now
            assert purpose is not None
            out = self._dir(extract_id)
            if spec.pseudonymized:
                key = self._pseudonym_key(extract_id)
            result = run_extract(
                spec,
                source.rows(self.session_factory, self.keyring, plan),
                source.population(self.session_factory, purpose, plan, self.clock),
                out,
                self._reporter(extract_id, worker, should_stop, progress),
                extract_id=extract_id,
                key=key,
                identifiers=plan.identifiers,
                field_types=self.field_types,
                table_keys=source.table_keys(self.session_factory, plan.join_token)
                if plan.join_token
                else None,
                **({} if self.compare_rows is None else {"compare_rows": self.compare_rows}),
            )
            self._succeed(extract_id, worker, spec, result)
        except UnavailableError as e:
            self._give_back(extract_id, worker, e, out)
        except PiivaultError as e:
            self._fail(extract_id, worker, e.code, e.message, out)
        except Exception as e:  # a bug: the job fails, the worker goes on; the text may hold values
            log.error("extract %s failed: %s", extract_id, type(e).__name__)
            self._fail(extract_id, worker, "internal_error", "the extract failed unexpectedly", out)

    def _pseudonym_key(self, extract_id: str) -> DataKey:
        """The extract's own key, generated here and stored only wrapped by the KEK."""
        name = key_name(extract_id)
        with self.session_factory() as session:
            key = self.keyring.create_keys(session, [system_owner(name)])[system_owner(name)]
            session.execute(t.extracts.update().where(_e.extract_id == extract_id).values(key_name=name))
            session.commit()
        return key

    def _reporter(
        self, extract_id: str, worker: str, should_stop: Callable[[], bool] | None, progress: Any
    ) -> Callable[[str, float], None]:
        last = {"phase": "", "at": 0.0}

        def report(phase: str, fraction: float) -> None:
            if should_stop is not None and should_stop():
                raise ExtractInterrupted("the worker is stopping")
            if progress is not None:
                progress(phase, fraction)
            now = time.monotonic()
            if phase == last["phase"] and now - last["at"] < PROGRESS_EVERY and fraction < 1.0:
                return
            last.update(phase=phase, at=now)
            with self.session_factory() as session:
                session.execute(
                    t.extracts.update()
                    .where(_e.extract_id == extract_id, _e.state == RUNNING, _e.worker == worker)
                    .values(phase=phase, progress=fraction, heartbeat_at=self.clock())
                )
                session.commit()

        return report

    def _succeed(self, extract_id: str, worker: str, spec: ExtractSpec, result: ExtractResult) -> None:
        files = dict(result.manifest["outputs"])
        with (result.out_dir / MANIFEST_NAME).open("rb") as handle:
            files[MANIFEST_NAME] = _hash(handle)
        sealed: dict[int, bytes] = {}
        if result.key is not None:
            columns = {c.output: result.table[c.output].tolist() for c in spec.pseudonymized}
            sealed = reidentification.seal_mapping(result.key, extract_id, columns, list(result.subjects))
        summary = {
            "result": _result(result),
            "files": files,
            "pseudonym_key_id": result.key.key_id if result.key is not None else None,
        }
        now = self.clock()
        with self.uow_factory() as uow:
            session = uow.session
            assert session is not None
            if sealed:
                session.execute(
                    t.extract_pseudonyms.insert(),
                    [{"extract_id": extract_id, "bucket": b, "sealed": s} for b, s in sorted(sealed.items())],
                )
            done = session.execute(
                t.extracts.update()
                .where(_e.extract_id == extract_id, _e.state == RUNNING, _e.worker == worker)
                .values(
                    state=SUCCEEDED,
                    phase="done",
                    progress=1.0,
                    finished_at=now,
                    heartbeat_at=now,
                    summary=json.dumps(summary, sort_keys=True),
                    error_code=None,
                    error_detail=None,
                )
            )
            if not done.rowcount:
                log.warning("extract %s was taken from this worker; its result is dropped", extract_id)
                return
            uow.record(
                AuditEvent(
                    action="extract.completed",
                    actor=WORKER_ACTOR,
                    purpose=spec.purpose,
                    details=_manifest_event(result, files),
                )
            )
            uow.commit()

    def _give_back(self, extract_id: str, worker: str, error: PiivaultError, out: Path | None) -> None:
        """A dependency failed or the worker stops: queue the job again, or fail it after MAX_ATTEMPTS."""
        try:
            with self.session_factory() as session:
                attempts = session.scalar(sa.select(_e.attempts).where(_e.extract_id == extract_id)) or 0
                if attempts >= MAX_ATTEMPTS and not isinstance(error, ExtractInterrupted):
                    session.rollback()
                    self._fail(extract_id, worker, error.code, error.message, out)
                    return
                session.execute(
                    t.extracts.update()
                    .where(_e.extract_id == extract_id, _e.state == RUNNING, _e.worker == worker)
                    .values(state=QUEUED, worker=None, phase=QUEUED, progress=0.0, heartbeat_at=None)
                )
                session.commit()
            _remove(out)
            log.warning("extract %s queued again: %s", extract_id, error.code)
        except PiivaultError as e:  # the database is down too: the heartbeat check requeues it later
            log.error("extract %s could not be queued again: %s", extract_id, e.code)
        except sa.exc.SQLAlchemyError as e:
            log.error("extract %s could not be queued again: %s", extract_id, type(e).__name__)

    def _fail(self, extract_id: str, worker: str | None, code: str, detail: str, out: Path | None) -> None:
        """Mark the job failed, destroy its key and mapping, remove its files; audited."""
        try:
            with self.uow_factory() as uow:
                session = uow.session
                assert session is not None
                row = self._row(session, extract_id)
                stmt = t.extracts.update().where(_e.extract_id == extract_id, _e.state.in_((QUEUED, RUNNING)))
                if worker is not None:
                    stmt = stmt.where(_e.worker == worker)
                done = session.execute(
                    stmt.values(
                        state=FAILED,
                        phase=None,
                        finished_at=self.clock(),
                        error_code=code,
                        error_detail=detail[:2000],
                        key_name=None,
                    )
                )
                if not done.rowcount:
                    return
                destroyed = self._forget_key(session, row, "extract-failed")
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
            _remove(out if out is not None else self._dir_or_none(extract_id))
        except (PiivaultError, sa.exc.SQLAlchemyError) as e:
            log.error("extract %s: could not record its failure (%s)", extract_id, type(e).__name__)

    def _forget_key(self, session: Session, row: Any, reason: str) -> bool:
        # The key row is named after the extract whether or not ``key_name`` was recorded yet.
        # Destroying it is ledgered (a restore cannot bring it back) and, through
        # :meth:`forget_destroyed`, deletes the mapping sealed under it.
        return self.keyring.destroy_system_key(session, key_name(row.extract_id), reason)

    def forget_destroyed(self, session: Session, owners: Sequence[str]) -> None:
        """The keyring's destroy listener (:meth:`vault.Keyring.on_destroy`): delete what was sealed
        under destroyed keys - subjects' risk attributes, extracts' re-identification mappings.

        Runs in the destroying transaction (a shred, an expiry, ``keys replay-erasures``).
        """
        subject_ids = [o.removeprefix(SUBJECT_OWNER) for o in owners if o.startswith(SUBJECT_OWNER)]
        if subject_ids:
            attributes.delete(session, subject_ids)
        prefix = system_owner(key_name(""))
        extract_ids = [o.removeprefix(prefix) for o in owners if o.startswith(prefix)]
        p = t.extract_pseudonyms.c
        for chunk in chunked(extract_ids):
            session.execute(t.extract_pseudonyms.delete().where(p.extract_id.in_(chunk)))

    # -- scheduled work (``piivault jobs run``) ----------------------------------------------
    def run_jobs(self, *, limit: int = 20, now: dt.datetime | None = None) -> JobReport:
        """Queue stale jobs again, expire what is due (keys destroyed), then run queued jobs.

        Idempotent and safe to run twice at once. Raises StorageUnavailable, VaultUnavailable.
        """
        report = JobReport()
        now = now or self.clock()
        self._requeue_stale(now, report)
        self.expire_due(now, report)
        worker = f"jobs:{os.getpid()}:{threading.get_ident()}"
        while report.run < limit:
            extract_id = self.run_next(worker)
            if extract_id is None:
                break
            report.run += 1
            with self.session_factory() as session:
                state = session.scalar(sa.select(_e.state).where(_e.extract_id == extract_id))
            if state == SUCCEEDED:
                report.succeeded += 1
            elif state == FAILED:
                report.failed += 1
        return report

    def _requeue_stale(self, now: dt.datetime, report: JobReport) -> None:
        with self.session_factory() as session:
            stale = session.execute(
                sa.select(_e.extract_id, _e.attempts, _e.worker).where(
                    _e.state == RUNNING, _e.heartbeat_at < now - STALE_AFTER
                )
            ).all()
        for extract_id, attempts, worker in stale:
            if attempts >= MAX_ATTEMPTS:
                self._fail(extract_id, worker, "worker_lost", "the worker stopped answering", None)
                report.failed += 1
                continue
            with self.session_factory() as session:
                done = session.execute(
                    t.extracts.update()
                    .where(_e.extract_id == extract_id, _e.state == RUNNING, _e.worker == worker)
                    .values(state=QUEUED, worker=None, phase=QUEUED, progress=0.0)
                )
                session.commit()
            report.requeued += int(bool(done.rowcount))

    def expire_due(self, now: dt.datetime | None = None, report: JobReport | None = None) -> int:
        """Expire every extract past its ``expires_at``: destroy its pseudonym key, mapping and files.

        A running job is left to finish (it expires on the next run). Each
        expiry is audited (``extract.expire``). Returns how many expired.
        """
        now = now or self.clock()
        with self.session_factory() as session:
            due = list(
                session.scalars(
                    sa.select(_e.extract_id)
                    .where(_e.state.in_((QUEUED, SUCCEEDED, FAILED)), _e.expires_at <= now)
                    .order_by(_e.expires_at)
                )
            )
        expired = 0
        for extract_id in due:
            with self.uow_factory() as uow:
                session = uow.session
                assert session is not None
                stmt = sa.select(t.extracts).where(
                    _e.extract_id == extract_id, _e.state.in_((QUEUED, SUCCEEDED, FAILED))
                )
                row = session.execute(for_update(stmt, session, skip_locked=True)).first()
                if row is None:  # expired or claimed by a concurrent run
                    continue
                destroyed = self._forget_key(session, row, "extract-expired")
                session.execute(
                    t.extracts.update()
                    .where(_e.extract_id == extract_id)
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
            _remove(self._dir_or_none(extract_id))
            expired += 1
        if report is not None:
            report.expired += expired
        return expired

    # -- the in-process worker -----------------------------------------------------------------
    def wake(self) -> None:
        """Tell the in-process worker a job was queued (started on first use; none with 0 threads)."""
        if self.worker_threads <= 0:
            return
        with self._worker_lock:  # two requests at once must not start two workers
            if self._worker is None:
                self._worker = ExtractWorker(self, self.worker_threads)
        self._worker.wake()

    def close(self) -> None:
        """Stop the in-process worker (a running job goes back to the queue)."""
        if self._worker is not None:
            self._worker.stop()

    # -- helpers --------------------------------------------------------------------------------
    def _row(self, session: Session, extract_id: str) -> Any:
        row = None
        if isinstance(extract_id, str) and EXTRACT_ID.fullmatch(extract_id):
            row = session.execute(sa.select(t.extracts).where(_e.extract_id == extract_id)).first()
        if row is None:
            raise ExtractNotFound("no such extract")
        return row

    def _visible(self, session: Session, requester: Requester, extract_id: str) -> Any:
        row = self._row(session, extract_id)
        if requester.role != "dpo" and row.requested_by != requester.actor:
            raise ExtractNotFound("no such extract")  # another analyst's: not even its existence
        return row

    def _dir(self, extract_id: str) -> Path:
        if self.extract_dir is None:
            raise ConfigurationError("set PIIVAULT_EXTRACT_DIR (the directory extract files are written to)")
        if not EXTRACT_ID.fullmatch(extract_id):
            raise ExtractNotFound("no such extract")
        # Only this service's user reads the files directly; everyone else downloads them, audited.
        self.extract_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.extract_dir / extract_id

    def _dir_or_none(self, extract_id: str) -> Path | None:
        return None if self.extract_dir is None else self._dir(extract_id)

    def _view(self, row: Any) -> dict[str, Any]:
        spec = json.loads(row.spec)
        summary = json.loads(row.summary) if row.summary else {}
        files = summary.get("files", {}) if row.state == SUCCEEDED else {}
        return {
            "extract_id": row.extract_id,
            "state": row.state,
            "purpose": row.purpose,
            "description": spec.get("description", ""),
            "requested_by": row.requested_by,
            "spec_sha256": row.spec_sha256,
            "spec": spec,
            "progress": {"percent": round(100 * float(row.progress), 1), "phase": row.phase},
            "attempts": row.attempts,
            "error": None if row.error_code is None else {"code": row.error_code, "detail": row.error_detail},
            "result": summary.get("result"),
            "files": [{"name": n, "media_type": media_type(n), **files[n]} for n in _listed(files)],
            "pseudonymized_columns": [
                c["as"] for c in spec["columns"].values() if c.get("action") == "pseudonym"
            ],
            "created_at": row.created_at,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "expires_at": row.expires_at,
            "expired_at": row.expired_at,
        }


def _listed(files: Mapping[str, Any]) -> list[str]:
    """A finished extract's files in the order they are listed: the fixed names, then the parts."""
    return [n for n in FILES if n in files] + sorted(n for n in files if n not in FILES and media_type(n))


def _hash(handle: IO[bytes]) -> dict[str, Any]:
    sha = hashlib.sha256()
    size = 0
    for block in iter(lambda: handle.read(1 << 20), b""):
        sha.update(block)
        size += len(block)
    return {"sha256": sha.hexdigest(), "bytes": size}


def _remove(path: Path | None) -> None:
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _stored_spec(text: str) -> ExtractSpec:
    """The spec of a stored job (validated when it was submitted)."""
    from anonymize.extract.spec import parse_spec

    return parse_spec(json.loads(text))


def _result(result: ExtractResult) -> dict[str, Any]:
    """Counts and measures of a finished extract, as JSON-ready plain values."""
    report = result.report
    measures = report["measures"]
    population = report["population"]
    return {
        "eligible": population["eligible"],
        "excluded_by_consent": population["excluded_by_consent"],
        "excluded_restricted_or_erased": population["excluded_restricted_or_erased"],
        "excluded_by_reason": dict(population["excluded_by_reason"]),
        "rows_in": report["rows"]["in"],
        "rows_kept": report["rows"]["kept"],
        "rows_suppressed": report["rows"]["suppressed"],
        "k": measures["k"],
        "l": measures["l"],
        "classes": measures["classes"],
        "prosecutor_risk_max": measures["prosecutor_risk_max"],
        "prosecutor_risk_avg": measures["prosecutor_risk_avg"],
        "ncp": measures["ncp"],
        "discernibility": measures["discernibility"],
    }


def _manifest_event(result: ExtractResult, files: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest as audit details: hashes, counts, k and l, parameters; integers and strings only."""
    manifest = result.manifest
    counts = manifest["counts"]
    parameters = manifest["parameters"]
    details: dict[str, Any] = {
        "extract_id": manifest["extract_id"],
        "spec_sha256": manifest["spec_sha256"],
        "outputs": {
            name: {"sha256": d["sha256"], "bytes": int(d["bytes"])} for name, d in sorted(files.items())
        },
        "counts": {
            "eligible": int(counts["eligible_subjects"]),
            "excluded_by_consent": int(counts["excluded_by_consent"]),
            "excluded_restricted_or_erased": int(counts["excluded_restricted_or_erased"]),
            "excluded_by_reason": {
                r: int(n) for r, n in result.report["population"]["excluded_by_reason"].items()
            },
            "rows_not_eligible": int(counts["rows_not_eligible"]),
            "rows_in": int(counts["rows_in"]),
            "rows_kept": int(counts["rows_kept"]),
            "rows_suppressed": int(counts["rows_suppressed"]),
            "classes": int(counts["classes"]),
        },
        "achieved": {"k": int(manifest["achieved"]["k"]), "l": manifest["achieved"]["l"]},
        "parameters": {
            "k": int(parameters["k"]),
            "l": int(parameters["l"]),
            # Audit events carry no floats (canonical JSON): the budget as written.
            "max_suppression": repr(float(parameters["max_suppression"])),
            "expires_in_days": int(result.report["spec"]["expires_in_days"]),
            **{
                role: list(parameters[role])
                for role in ("quasi", "sensitive", "attributes", "pseudonymized", "dropped")
            },
        },
        "pseudonym_key_id": manifest["pseudonym_key_id"],
    }
    if len(canonical_json(details)) > MAX_DETAILS_BYTES - 1_024:
        # Very wide specs: the column lists go (manifest.json, hashed above, keeps them).
        details["parameters"] = {k: v for k, v in details["parameters"].items() if not isinstance(v, list)}
    return details


def recent_extracts(uow: UnitOfWork, limit: int = 10) -> list[dict[str, Any]]:
    """The newest extracts, for the DPO console: ids, states, dates, k, l and rows (no PII, no spec).

    The caller decides who may see them. Raises StorageUnavailable.
    """
    session = uow.session
    assert session is not None
    rows = session.execute(
        sa.select(
            _e.extract_id,
            _e.purpose,
            _e.state,
            _e.requested_by,
            _e.created_at,
            _e.finished_at,
            _e.expires_at,
            _e.summary,
        )
        .order_by(_e.created_at.desc(), _e.extract_id)
        .limit(max(1, min(limit, MAX_PAGE)))
    ).all()
    out = []
    for row in rows:
        result = (json.loads(row.summary) if row.summary else {}).get("result") or {}
        out.append(
            {
                "extract_id": row.extract_id,
                "purpose": row.purpose,
                "state": row.state,
                "requested_by": row.requested_by,
                "created_at": row.created_at,
                "finished_at": row.finished_at,
                "expires_at": row.expires_at,
                "k": result.get("k"),
                "l": result.get("l"),
                "rows_kept": result.get("rows_kept"),
            }
        )
    return out


class ExtractWorker:
    """Threads in this process that run queued extract jobs (``PIIVAULT_EXTRACT_WORKER_THREADS``).

    Started on the first :meth:`wake` (so an app that never queues an extract
    never polls), then polls every ``poll`` seconds and wakes at once when this
    process queues a job. Claiming is locked in the database, so workers in
    several processes (gunicorn) share one queue.
    """

    def __init__(self, service: ExtractService, threads: int, poll: float = 5.0) -> None:
        self.service = service
        self.threads = threads
        self.poll = poll
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: list[threading.Thread] = []

    def wake(self) -> None:
        with self._lock:
            if not self._running and not self._stopping.is_set():
                for i in range(self.threads):
                    thread = threading.Thread(
                        target=self._loop, args=(i,), name=f"extract-worker-{i}", daemon=True
                    )
                    thread.start()
                    self._running.append(thread)
        self._wakeup.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        for thread in self._running:
            thread.join(timeout)

    def _loop(self, index: int) -> None:
        name = f"thread:{os.getpid()}:{index}"
        while not self._stopping.is_set():
            try:
                ran = self.service.run_next(name, self._stopping.is_set)
            except Exception as e:  # the database is down: try again after the poll interval
                log.warning("extract worker: %s", type(e).__name__)
                ran = None
            if ran is None:
                self._wakeup.wait(self.poll)
                self._wakeup.clear()


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
