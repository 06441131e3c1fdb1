"""Four eyes on purpose changes that widen access (``purpose.widen``).

A change to a purpose that widens access (more field types, a legal basis other
than consent, consent or separate consent no longer required, and the others
:func:`privacy.purposes.widening` lists) does not apply when asked: it is filed
as a ``purpose.widen`` request by the person asking (a DPO or an admin) and
applies when a DPO, another person, approves it, in the approving transaction.
Narrowing and neutral changes apply at once.

The request is bound to exactly one result: its scope holds the change asked
for, the version it was asked against and the digest of the whole definition
it makes (``sha256`` of the canonical JSON, code and new version included).
On approval the change is made again from that version and must hash to that
digest; if the purpose changed meanwhile the approval fails (409
``purpose_changed``) and nothing is written, so nothing else can be slipped
in between asking and approving.

Creating a purpose is not gated: a new purpose reaches nobody's data until a
client holds it, and a service client gets purposes only through its own
``client.data_access`` approval.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from access import model as m
from access.service import AccessService
from audit.events import AuditEvent
from piivault.db import UnitOfWork
from piivault.errors import Conflict
from privacy import purposes as p

REASON_CODE = "purpose_change"


class PurposeChanged(Conflict):
    """The purpose changed since the widening was asked for: the approved change cannot apply."""

    code = "purpose_changed"


class PurposeApprovals:
    """Files widening changes and applies them when approved (registered with the access service)."""

    def __init__(self, access: AccessService, *, catalogue: Any, field_types: Any) -> None:
        self._access = access
        self._catalogue = catalogue  # privacy.catalogue.LivePurposeCatalogue
        self._field_types = field_types
        access.on_approved(m.PURPOSE_WIDEN, self._apply)

    def file(
        self,
        uow: UnitOfWork,
        acting: m.Acting,
        before: Any,
        changes: dict[str, Any],
        proposed: Any,
        widens: list[str],
        *,
        request_id: str | None = None,
    ) -> m.ApprovalRequest:
        """File the request in ``uow`` (the caller commits). Raises NoPerson, RequesterRole."""

        scope = m.Scope(
            target=before.code,
            digest=p.definition_digest(proposed),
            proposal={"base_version": before.version, "changes": changes, "widens": widens},
        )
        text = f"widens {before.code}: {', '.join(widens)}"
        return self._access.request_in(
            uow, acting, m.PURPOSE_WIDEN, scope, REASON_CODE, text, request_id=request_id
        )

    def _apply(self, uow: UnitOfWork, found: m.ApprovalRequest, acting: m.Acting, now: dt.datetime) -> None:
        """Make the approved change, exactly: from its version, hashing to its digest."""

        session = uow.session
        assert session is not None
        scope = found.scope
        proposal = scope.proposal or {}
        code = scope.target or ""
        current = p.require(session, code, lock=True)
        if current.version != proposal.get("base_version"):
            raise PurposeChanged(
                f"the purpose is at version {current.version}, the change was asked against "
                f"{proposal.get('base_version')}: ask again"
            )
        updated, changed = p.update(
            session, code, proposal.get("changes") or {}, found.requested_by, now, self._field_types.codes()
        )
        if not changed or p.definition_digest(updated) != scope.digest:
            raise PurposeChanged("the change no longer makes the definition that was approved")
        uow.record(
            AuditEvent(
                action="purpose.update",
                actor=found.requested_by,
                purpose=code,
                details={
                    "version": updated.version,
                    "fields": sorted(proposal.get("changes") or {}),
                    "approval_id": found.id,
                    "approved_by": sorted(a.person for a in found.approvals),
                    "digest": scope.digest,
                },
            )
        )
        uow.after_commit(self._catalogue.invalidate)
