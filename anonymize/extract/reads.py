"""Reading extracts: one job's state and progress, the newest jobs a requester may see, a
finished extract's file (hashed as it is served, and audited), and the DPO dashboard's list of
recent extracts.
"""

from __future__ import annotations

import json
from typing import IO, Any

import sqlalchemy as sa

from anonymize.extract import job_rows as rows
from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.errors import ExtractCheckFailed, ExtractExpired, ExtractNotFound, ExtractNotReady
from anonymize.extract.job_rows import EXPIRED, MAX_PAGE, SUCCEEDED, e
from anonymize.extract.roles import READ_ROLES, Requester, require
from audit.events import AuditEvent
from piivault.db import UnitOfWork
from piivault.errors import ValidationFailed


def get(uow: UnitOfWork, requester: Requester, extract_id: str) -> dict[str, Any]:
    """One extract's state, progress, result and files.

    Raises ExtractForbidden (role), ExtractNotFound (none, or another
    analyst's), StorageUnavailable.
    """
    require(requester, READ_ROLES, "read extracts")
    session = uow.session
    assert session is not None
    row = rows.visible(session, requester, extract_id)
    uow.commit()
    return rows.view(row)


def search(
    uow: UnitOfWork, requester: Requester, *, state: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The newest extracts the requester may see (an analyst's own; every one for the DPO).

    Raises ExtractForbidden, ValidationFailed (state, limit), StorageUnavailable.
    """
    require(requester, READ_ROLES, "read extracts")
    if state is not None and state not in t.STATES:
        raise ValidationFailed(f"state must be one of: {', '.join(t.STATES)}")
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}")
    stmt = sa.select(t.extracts).order_by(e.created_at.desc(), e.extract_id).limit(limit)
    if requester.role != "dpo":
        stmt = stmt.where(e.requested_by == requester.actor)
    if state is not None:
        stmt = stmt.where(e.state == state)
    session = uow.session
    assert session is not None
    found = [rows.view(row) for row in session.execute(stmt)]
    uow.commit()
    return found


def open_file(
    deps: ExtractDeps,
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
    require(requester, READ_ROLES, "download extracts")
    session = uow.session
    assert session is not None
    row = rows.visible(session, requester, extract_id)
    if row.state == EXPIRED:
        raise ExtractExpired("the extract expired: its files were deleted")
    if row.state != SUCCEEDED:
        raise ExtractNotReady(f"the extract is {row.state}: it has no files")
    kind = rows.media_type(name)
    expected = json.loads(row.summary)["files"].get(name) if kind is not None else None
    if kind is None or expected is None:
        raise ExtractNotFound("no such file in this extract")
    handle = (deps.directory(extract_id) / name).open("rb")
    try:
        digest = rows.hash_file(handle)
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


def recent_extracts(uow: UnitOfWork, limit: int = 10) -> list[dict[str, Any]]:
    """The newest extracts, for the DPO console: ids, states, dates, k, l and rows (no PII, no spec).

    The caller decides who may see them. Raises StorageUnavailable.
    """
    session = uow.session
    assert session is not None
    found = session.execute(
        sa.select(
            e.extract_id,
            e.purpose,
            e.state,
            e.requested_by,
            e.created_at,
            e.finished_at,
            e.expires_at,
            e.summary,
        )
        .order_by(e.created_at.desc(), e.extract_id)
        .limit(max(1, min(limit, MAX_PAGE)))
    ).all()
    out = []
    for row in found:
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
