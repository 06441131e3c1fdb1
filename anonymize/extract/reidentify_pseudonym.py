"""Re-identification (role ``dpo``, four eyes): the subject ids behind one pseudonym of one
extract, with a reason, every attempt audited. The mapping it opens is sealed by
:mod:`anonymize.extract.reidentification`.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from anonymize.extract import job_rows as rows
from anonymize.extract import reidentification
from anonymize.extract import tables as t
from anonymize.extract.deps import ExtractDeps
from anonymize.extract.errors import ExtractExpired, ExtractNotReady, InvalidPseudonym, PseudonymNotFound
from anonymize.extract.job_rows import EXPIRED, SUCCEEDED
from anonymize.extract.pseudonyms import PSEUDONYM_CHARS
from anonymize.extract.roles import REIDENTIFY_ROLES, Requester, require
from audit.events import AuditEvent
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from piivault.errors import ConfigurationError, ValidationFailed
from vault import system_owner

REASON_LENGTH = (10, 500)
_PSEUDONYM = re.compile(f"[0-9a-f]{{{PSEUDONYM_CHARS}}}")


def reidentify(
    deps: ExtractDeps,
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
    require(requester, REIDENTIFY_ROLES, "re-identify pseudonyms")
    check_reason(deps.field_types, reason)
    if not isinstance(pseudonym, str) or not _PSEUDONYM.fullmatch(pseudonym):
        raise InvalidPseudonym(f"a pseudonym is {PSEUDONYM_CHARS} lowercase hexadecimal characters")
    session = uow.session
    assert session is not None
    row = rows.visible(session, requester, extract_id)
    spec = rows.stored_spec(row.spec)
    if column not in {c.output for c in spec.pseudonymized}:
        raise ValidationFailed("column: not a pseudonymized column of this extract")
    approval = require_four_eyes(deps, session, requester, extract_id, request_id)

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
        key = deps.keyring.data_keys(session, [system_owner(row.key_name)]).get(system_owner(row.key_name))
    if row.state == EXPIRED or (row.state == SUCCEEDED and key is None):
        uow.record(audited("denied", result="key destroyed"))
        uow.commit()
        raise ExtractExpired("the extract expired and its pseudonym key was destroyed: no re-identification")
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


def require_four_eyes(
    deps: ExtractDeps, session: Session, requester: Requester, extract_id: str, request_id: str | None
) -> dict[str, Any]:
    """The DPO's own ``extract.reidentify`` grant for this extract, approved by another DPO;
    the audit details naming both. Raises ApprovalRequired (the request filed or found is
    named), NoPerson, ConfigurationError when no gate is wired (fail closed)."""
    from access.gate import granted_details
    from access.model import REIDENTIFY, Acting

    if deps.four_eyes is None:
        raise ConfigurationError("re-identification needs four eyes, and no approval gate is wired")
    acting = Acting(requester.person, requester.role, requester.actor)
    grant = deps.four_eyes.require(session, acting, REIDENTIFY, extract_id, request_id=request_id)
    return granted_details(grant)


def check_reason(field_types: FieldTypeRegistry, reason: Any) -> None:
    """A reason of the right length that holds no identifier; raises ValidationFailed."""
    low, high = REASON_LENGTH
    if not isinstance(reason, str) or not low <= len(reason.strip()) <= high:
        raise ValidationFailed(f"reason must be {low} to {high} characters")
    if field_types.holds_identifier(reason):
        raise ValidationFailed(
            "reason must not hold a personal identifier: it is kept in the audit log for good"
        )
