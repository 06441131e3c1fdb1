"""The audit events of access's use cases: ``approval.*`` about a request, ``grant.*`` and
``break_glass.*`` about a grant. They name persons, ids and reason codes; never a reason's
free text (it holds no identifier, but it is a person's words).
"""

from __future__ import annotations

from typing import Any

from access import model as m
from audit.events import AuditEvent


def _subject(scope: m.Scope) -> str | None:
    return scope.subjects[0] if len(scope.subjects) == 1 else None


def request_event(
    action: str,
    acting: m.Acting,
    found: m.ApprovalRequest,
    request_id: str | None,
    *,
    outcome: str = "success",
    reason: str | None = None,
    four_eyes: bool | None = None,
) -> AuditEvent:
    """``action`` (``approval.request``, ``.approve``, ...) by ``acting`` on the request ``found``."""
    details: dict[str, Any] = {
        "approval_id": found.id,
        "action": found.action,
        "person": acting.person,
        "requester": found.requester,
        "target": found.scope.target,
        "subjects": list(found.scope.subjects),
        "reason_code": found.reason_code,
        "approvals": [a.person for a in found.approvals],
        "approvals_needed": found.approvals_needed,
    }
    if four_eyes is not None:
        details["four_eyes"] = four_eyes
    return AuditEvent(
        action=action,
        actor=acting.actor,
        outcome=outcome,
        subject_id=_subject(found.scope),
        purpose=found.scope.purpose,
        field_types=tuple(found.scope.field_types or ()),
        reason=reason,
        request_id=request_id,
        details=details,
    )


def grant_event(
    action: str, acting: m.Acting, grant: m.Grant, request_id: str | None, refused: str | None = None
) -> AuditEvent:
    """``action`` (``grant.create``, ``grant.revoke``, ``break_glass.*``) by ``acting`` on
    ``grant``; ``refused``: the refusal's code (the event is then denied)."""
    return AuditEvent(
        action=action,
        actor=acting.actor,
        outcome="denied" if refused else "success",
        subject_id=_subject(grant.scope),
        purpose=grant.scope.purpose,
        field_types=tuple(grant.scope.field_types or ()),
        reason=refused or grant.reason_code,
        request_id=request_id,
        details={
            "grant_id": grant.id,
            "kind": grant.kind,
            "action": grant.action,
            "person": acting.person,
            "holder": grant.holder,
            "target": grant.scope.target,
            "subjects": list(grant.scope.subjects),
            "approval_id": grant.request_id,
            "approved_by": list(grant.approved_by),
            "expires_at": grant.expires_at.isoformat() if grant.expires_at else None,
        },
    )
