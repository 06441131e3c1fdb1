"""The rows of ``anonymize_extracts`` as the use cases read them: the job states, the files an
extract may hold and their media types, extract ids, finding a row (and hiding another
analyst's), the view every read returns, and the small file helpers around a job's directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from anonymize.extract import tables as t
from anonymize.extract.errors import ExtractNotFound
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
from anonymize.extract.roles import Requester
from piivault.ids import new_id

if TYPE_CHECKING:
    from anonymize.extract.spec import ExtractSpec

STATES = t.STATES  # a job's states, for the API's schema (which imports no tables module)
QUEUED, RUNNING, SUCCEEDED, FAILED, EXPIRED = STATES
MAX_PAGE = 200
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
EXTRACT_ID = re.compile(r"ext_[a-z2-7]{24}")
e = t.extracts.c


def media_type(name: str) -> str | None:
    """The media type of an extract's file ``name`` (a fixed name, or a Spark extract's part), or None."""
    part = PART_PATTERN.fullmatch(name)
    return PART_TYPES[part.group(1)] if part else FILES.get(name)


def new_extract_id() -> str:
    """``ext_`` and 24 base32 characters (120 random bits)."""
    return new_id("ext_")


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def row(session: Session, extract_id: str) -> Any:
    """The job ``extract_id``; raises ExtractNotFound."""
    found = None
    if isinstance(extract_id, str) and EXTRACT_ID.fullmatch(extract_id):
        found = session.execute(sa.select(t.extracts).where(e.extract_id == extract_id)).first()
    if found is None:
        raise ExtractNotFound("no such extract")
    return found


def visible(session: Session, requester: Requester, extract_id: str) -> Any:
    """The job if the requester may see it (an analyst's own; every one for the DPO)."""
    found = row(session, extract_id)
    if requester.role != "dpo" and found.requested_by != requester.actor:
        raise ExtractNotFound("no such extract")  # another analyst's: not even its existence
    return found


def view(job: Any) -> dict[str, Any]:
    """What the reads return of a job: state, progress, result and files (plain values)."""
    spec = json.loads(job.spec)
    summary = json.loads(job.summary) if job.summary else {}
    files = summary.get("files", {}) if job.state == SUCCEEDED else {}
    return {
        "extract_id": job.extract_id,
        "state": job.state,
        "purpose": job.purpose,
        "description": spec.get("description", ""),
        "requested_by": job.requested_by,
        "spec_sha256": job.spec_sha256,
        "spec": spec,
        "progress": {"percent": round(100 * float(job.progress), 1), "phase": job.phase},
        "attempts": job.attempts,
        "error": None if job.error_code is None else {"code": job.error_code, "detail": job.error_detail},
        "result": summary.get("result"),
        "files": [{"name": n, "media_type": media_type(n), **files[n]} for n in _listed(files)],
        "pseudonymized_columns": [
            c["as"] for c in spec["columns"].values() if c.get("action") == "pseudonym"
        ],
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "expired_at": job.expired_at,
    }


def _listed(files: Mapping[str, Any]) -> list[str]:
    """A finished extract's files in the order they are listed: the fixed names, then the parts."""
    return [n for n in FILES if n in files] + sorted(n for n in files if n not in FILES and media_type(n))


def hash_file(handle: IO[bytes]) -> dict[str, Any]:
    """``{sha256, bytes}`` of what is left to read in ``handle``."""
    sha = hashlib.sha256()
    size = 0
    for block in iter(lambda: handle.read(1 << 20), b""):
        sha.update(block)
        size += len(block)
    return {"sha256": sha.hexdigest(), "bytes": size}


def remove(path: Path | None) -> None:
    if path is not None and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def stored_spec(text: str) -> ExtractSpec:
    """The spec of a stored job (validated when it was submitted)."""
    from anonymize.extract.spec_parser import parse_spec

    return parse_spec(json.loads(text))
