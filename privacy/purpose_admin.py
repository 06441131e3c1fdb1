"""The DPO's and admins' use cases on purposes and their notices: list, read, create, change
(a change that widens access waits for a second DPO: :mod:`privacy.widening`), publish a notice.

:class:`PurposeAdmin` owns them; each takes a unit of work, checks the actor,
records its audit event, commits and drops the live catalogue's cache. The
tables and their rules are :mod:`privacy.purposes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from audit.events import AuditEvent
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork
from privacy import model as m
from privacy import purposes as _purposes
from privacy.catalogue import LivePurposeCatalogue
from privacy.guards import begin, require_role


@dataclasses.dataclass(frozen=True)
class PurposeChange:
    """A purpose after a change: applied (``approval`` None), or as it stands with the
    ``purpose.widen`` request the change waits for and how it widens access."""

    purpose: m.PurposeDef
    approval: Any = None  # access.model.ApprovalRequest
    widens: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class PurposeAdmin:
    """Purposes and notices (see the module)."""

    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    uow_factory: Callable[[], UnitOfWork]
    clock: Callable[[], dt.datetime]
    # Four eyes on purpose changes that widen access (privacy.widening.PurposeApprovals), wired by
    # the composition root. None: changes apply as asked.
    widen_gate: Any = None

    def list_purposes(self, uow: UnitOfWork, *, include_retired: bool = False) -> list[m.PurposeDef]:
        """Every purpose (retired ones on request). Raises StorageUnavailable."""
        session = begin(self.catalogue, uow)
        found = [p for p in _purposes.all_purposes(session) if include_retired or p.active]
        uow.commit()
        return found

    def get_purpose(self, uow: UnitOfWork, code: str) -> m.PurposeDef:
        """Raises PurposeNotFound, StorageUnavailable."""
        purpose = _purposes.require(begin(self.catalogue, uow), code)
        uow.commit()
        return purpose

    def purpose_history(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        """Every version of the purpose. Raises PurposeNotFound, StorageUnavailable."""
        found = _purposes.history(begin(self.catalogue, uow), code)
        uow.commit()
        return found

    def create_purpose(
        self, uow: UnitOfWork, actor: m.Actor, spec: Mapping[str, Any], *, request_id: str | None = None
    ) -> m.PurposeDef:
        """Create a purpose with its first notice.

        Raises NotAllowed, InvalidConsent, ConsentConflict (code taken), StorageUnavailable.
        """
        require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = begin(self.catalogue, uow)
        purpose = _purposes.create(session, spec, actor.name, self.clock(), self.field_types.codes())
        uow.record(
            AuditEvent(
                action="purpose.create",
                actor=actor.name,
                purpose=purpose.code,
                request_id=request_id,
                details={"version": purpose.version, "legal_basis": purpose.legal_basis},
            )
        )
        uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return purpose

    def update_purpose(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        changes: Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> m.PurposeDef:
        """Change a purpose (a new version; the history keeps the old one) when the change does
        not widen access; one that does goes through :meth:`change_purpose`.

        Raises NotAllowed, PurposeNotFound, InvalidConsent, ApprovalRequired (a
        widening change with four eyes wired), StorageUnavailable.
        """
        found = self.change_purpose(uow, actor, code, changes, acting=None, request_id=request_id)
        return found.purpose

    def change_purpose(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        changes: Mapping[str, Any],
        *,
        acting: Any,
        request_id: str | None = None,
    ) -> PurposeChange:
        """Change a purpose; one that widens access (:func:`privacy.purposes.widening`) is filed
        as a ``purpose.widen`` approval request bound to the digest of the exact definition it
        would make, and applied when another DPO approves it (``privacy.widening``).

        ``acting`` is who asks (``access.model.Acting``: the person behind the key
        or console user). Returns the purpose as it stands and the approval
        request, if one was filed. Raises NotAllowed, PurposeNotFound,
        InvalidConsent, NoPerson, RequesterRole, ApprovalRequired (a widening
        change without ``acting``), StorageUnavailable.
        """
        require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = begin(self.catalogue, uow)
        now = self.clock()
        type_codes = self.field_types.codes()
        before = _purposes.require(session, code, lock=True)
        if self.widen_gate is not None:
            # Try the change in a savepoint: what it would make, and whether that widens access.
            with session.begin_nested() as trial:
                proposed, changed = _purposes.update(session, code, changes, actor.name, now, type_codes)
                trial.rollback()
            widened = _purposes.widening(before, proposed) if changed else []
            if widened:
                if acting is None:
                    from access.errors import ApprovalRequired

                    raise ApprovalRequired(
                        f"this change widens access ({', '.join(widened)}): it needs a purpose.widen approval"
                    )
                approval = self.widen_gate.file(
                    uow, acting, before, dict(changes), proposed, widened, request_id=request_id
                )
                uow.commit()
                if approval.state != "pending":  # four eyes off for purpose.widen: applied as asked
                    with self.uow_factory() as again:
                        before = _purposes.require(begin(self.catalogue, again), code)
                return PurposeChange(before, approval, tuple(widened))
        purpose, changed = _purposes.update(session, code, changes, actor.name, now, type_codes)
        if changed:
            uow.record(
                AuditEvent(
                    action="purpose.update",
                    actor=actor.name,
                    purpose=code,
                    request_id=request_id,
                    details={"version": purpose.version, "fields": sorted(changes)},
                )
            )
            uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return PurposeChange(purpose)

    def publish_notice(
        self,
        uow: UnitOfWork,
        actor: m.Actor,
        code: str,
        *,
        text_zh: Any,
        text_en: Any = None,
        material: bool = False,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Publish the next notice version of a purpose.

        A material change makes consents under older notices ``reconsent_required``.
        Raises NotAllowed, PurposeNotFound, InvalidConsent, StorageUnavailable.
        """
        require_role(actor, m.PURPOSE_ADMIN_ROLES, "manage purposes")
        session = begin(self.catalogue, uow)
        purpose, notice = _purposes.publish_notice(
            session, code, text_zh, text_en, material, actor.name, self.clock()
        )
        uow.record(
            AuditEvent(
                action="purpose.notice",
                actor=actor.name,
                purpose=code,
                request_id=request_id,
                details={
                    "notice_version": notice["version"],
                    "material": notice["material"],
                    "accepted_notice_version": purpose.accepted_notice_version,
                    "text_hash": notice["text_hash"],
                },
            )
        )
        uow.after_commit(self.catalogue.invalidate)
        uow.commit()
        return notice

    def list_notices(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        """Raises PurposeNotFound, StorageUnavailable."""
        found = _purposes.notices(begin(self.catalogue, uow), code)
        uow.commit()
        return found

    def get_notice(self, uow: UnitOfWork, code: str, version: int) -> dict[str, Any]:
        """Raises PurposeNotFound, NoticeNotFound, StorageUnavailable."""
        found = _purposes.notice(begin(self.catalogue, uow), code, version)
        uow.commit()
        return found
