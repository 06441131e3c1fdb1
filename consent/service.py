"""The consent service: one object the API, the console and the CLI call for consents, holds and DSRs.

It owns nothing itself. It composes the owners, each built on first use from its
collaborators, and hands every call to one of them:

* purposes and notices: :class:`privacy.purpose_admin.PurposeAdmin`;
* consents (grant, renew, withdraw, read): :class:`consent.consents.ConsentRecords`;
* receipts and certificates: :class:`consent.receipts.Receipts`;
* subject ids, relationships, restrictions, erasure state: :class:`consent.subject_state.SubjectStates`;
* holds: :class:`consent.holds.Holds`;
* data-subject requests, the access package, the bulk import, jobs and erasure: the
  functions of :mod:`consent.dsr`, :mod:`consent.access`, :mod:`consent.importer`,
  :mod:`consent.jobs` and :mod:`consent.erasure`, each given its dependencies object.

The owners read the time through :meth:`ConsentService.now`, so a clock set on the
service (tests move it) is the one they all use.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from consent.consents import ConsentRecords
from consent.holds import Holds
from consent.receipts import Controller, Receipts
from consent.subject_state import SubjectStates
from fieldtypes import FieldTypeRegistry
from piivault.db import UnitOfWork, utcnow
from piivault.errors import ConfigurationError
from privacy import model as m
from privacy.attributes import attribute_store
from privacy.catalogue import LivePurposeCatalogue
from privacy.purpose_admin import PurposeAdmin, PurposeChange
from vault import Keyring

if TYPE_CHECKING:
    from consent.access import PackageDeps
    from consent.dsr import DsrDeps
    from consent.erasure import ErasureDeps, ErasurePreview
    from consent.importer import ImportDeps
    from consent.jobs import JobDeps
    from privacy.attributes import AttributeStore


@dataclasses.dataclass
class ConsentService:
    session_factory: sessionmaker[Session]
    uow_factory: Callable[[], UnitOfWork]
    keyring: Keyring
    catalogue: LivePurposeCatalogue
    field_types: FieldTypeRegistry
    controller: Controller
    audit: Any = None  # audit.service.AuditLog
    due_days: int = 15
    clock: Callable[[], dt.datetime] = utcnow
    # Subjects' risk attributes (privacy.attributes): the access package shows them, a correction
    # request changes them. None: none are kept.
    subject_attributes: AttributeStore | None = None
    # Purposes that own the customer relationship: a purpose-bound client may open or close
    # it only holding one of them (PIIVAULT_RELATIONSHIP_PURPOSES).
    relationship_purposes: frozenset[str] = frozenset(m.RELATIONSHIP_PURPOSES)
    # Four eyes on purpose changes that widen access (privacy.widening.PurposeApprovals), wired by
    # the composition root. None: changes apply as asked.
    widen_gate: Any = None
    # Four eyes on access packages and erasures (access.gate.FourEyes), wired by the composition
    # root; None refuses both (fail closed).
    four_eyes: Any = None
    # The customer's copy of an access request: client id -> the name an admin gave it (read in the
    # caller's session; wired by the composition root, which owns the clients' table), and the time
    # zone its times are written in.
    client_names: Callable[[Session], dict[str, str]] | None = None
    time_zone: str = "Asia/Shanghai"

    def now(self) -> dt.datetime:
        """The service's clock, read when called: what every owner is given as its clock."""
        return self.clock()

    # -- the owners, each built on first use -------------------------------------------
    @cached_property
    def purposes(self) -> PurposeAdmin:
        return PurposeAdmin(self.catalogue, self.field_types, self.uow_factory, self.now, self.widen_gate)

    @cached_property
    def subjects(self) -> SubjectStates:
        return SubjectStates(self.catalogue, self.field_types, self.now, self.relationship_purposes)

    @cached_property
    def receipts(self) -> Receipts:
        return Receipts(
            self.session_factory,
            self.catalogue,
            self.keyring,
            self.field_types,
            self.controller,
            self.now,
            audit=self.audit,
        )

    @cached_property
    def consents(self) -> ConsentRecords:
        return ConsentRecords(
            self.session_factory, self.catalogue, self.field_types, self.now, self.subjects, self.receipts
        )

    @cached_property
    def holds(self) -> Holds:
        return Holds(self.catalogue, self.now, self.subjects)

    # -- the use-case modules' dependencies --------------------------------------------
    @cached_property
    def erasure_deps(self) -> ErasureDeps:
        from consent.erasure import ErasureDeps

        return ErasureDeps(self.keyring, self.receipts)

    @cached_property
    def dsr_deps(self) -> DsrDeps:
        from consent.dsr import DsrDeps

        return DsrDeps(
            catalogue=self.catalogue,
            clock=self.now,
            subjects=self.subjects,
            consents=self.consents,
            receipts=self.receipts,
            erasure=self.erasure_deps,
            keyring=self.keyring,
            field_types=self.field_types,
            due_days=self.due_days,
            subject_attributes=self.subject_attributes,
            four_eyes=self.four_eyes,
        )

    @cached_property
    def package_deps(self) -> PackageDeps:
        from consent.access import PackageDeps

        return PackageDeps(
            session_factory=self.session_factory,
            catalogue=self.catalogue,
            keyring=self.keyring,
            field_types=self.field_types,
            controller=self.controller,
            clock=self.now,
            audit=self.audit,
            four_eyes=self.four_eyes,
            subject_attributes=self.subject_attributes,
            client_names=self.client_names,
            time_zone=self.time_zone,
        )

    @cached_property
    def import_deps(self) -> ImportDeps:
        from consent.importer import ImportDeps

        return ImportDeps(self.catalogue, self.field_types, self.now)

    @cached_property
    def job_deps(self) -> JobDeps:
        from consent.jobs import JobDeps

        return JobDeps(self.catalogue, self.session_factory, self.uow_factory, self.now, self.erasure_deps)

    # -- purposes and notices: PurposeAdmin -------------------------------------------------
    def list_purposes(self, uow: UnitOfWork, **kw: Any) -> list[m.PurposeDef]:
        return self.purposes.list_purposes(uow, **kw)

    def get_purpose(self, uow: UnitOfWork, code: str) -> m.PurposeDef:
        return self.purposes.get_purpose(uow, code)

    def purpose_history(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        return self.purposes.purpose_history(uow, code)

    def create_purpose(self, uow: UnitOfWork, actor: m.Actor, spec: Any, **kw: Any) -> m.PurposeDef:
        return self.purposes.create_purpose(uow, actor, spec, **kw)

    def update_purpose(self, uow: UnitOfWork, actor: m.Actor, code: str, changes: Any, **kw: Any) -> Any:
        return self.purposes.update_purpose(uow, actor, code, changes, **kw)

    def change_purpose(
        self, uow: UnitOfWork, actor: m.Actor, code: str, changes: Any, **kw: Any
    ) -> PurposeChange:
        return self.purposes.change_purpose(uow, actor, code, changes, **kw)

    def publish_notice(self, uow: UnitOfWork, actor: m.Actor, code: str, **kw: Any) -> dict[str, Any]:
        return self.purposes.publish_notice(uow, actor, code, **kw)

    def list_notices(self, uow: UnitOfWork, code: str) -> list[dict[str, Any]]:
        return self.purposes.list_notices(uow, code)

    def get_notice(self, uow: UnitOfWork, code: str, version: int) -> dict[str, Any]:
        return self.purposes.get_notice(uow, code, version)

    # -- consents: ConsentRecords -----------------------------------------------------------
    def grant(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        return self.consents.grant(uow, actor, subject_id, purpose, **kw)

    def renew(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        return self.consents.renew(uow, actor, subject_id, purpose, **kw)

    def withdraw(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, purpose: str, **kw: Any) -> dict:
        return self.consents.withdraw(uow, actor, subject_id, purpose, **kw)

    def consents_of(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> dict[str, Any]:
        return self.consents.consents_of(uow, actor, subject_id, **kw)

    # -- receipts: Receipts -----------------------------------------------------------------
    def finalize_receipt(self, receipt_id: str) -> dict[str, Any] | None:
        return self.receipts.finalize_receipt(receipt_id)

    def get_receipt(self, uow: UnitOfWork, actor: m.Actor, receipt_id: str, **kw: Any) -> dict[str, Any]:
        return self.receipts.get_receipt(uow, actor, receipt_id, **kw)

    def receipt_public_key(self) -> dict[str, str]:
        return self.receipts.receipt_public_key()

    # -- subjects: SubjectStates --------------------------------------------------------------
    def check_subject_id(self, subject_id: Any) -> str:
        return self.subjects.check_subject_id(subject_id)

    def erased(self, session: Session, subject_id: str) -> bool:
        return self.subjects.erased(session, subject_id)

    def open_relationship(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> dict:
        return self.subjects.open_relationship(uow, actor, subject_id, **kw)

    def close_relationship(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> dict:
        return self.subjects.close_relationship(uow, actor, subject_id, **kw)

    def lift_restriction(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> dict:
        return self.subjects.lift_restriction(uow, actor, subject_id, **kw)

    # -- holds: Holds -------------------------------------------------------------------------
    def list_holds(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> list[dict]:
        return self.holds.list_holds(uow, actor, subject_id, **kw)

    def place_hold(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, **kw: Any) -> dict[str, Any]:
        return self.holds.place_hold(uow, actor, subject_id, **kw)

    def release_hold(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, hold_id: str, **kw: Any) -> dict:
        return self.holds.release_hold(uow, actor, subject_id, hold_id, **kw)

    # -- data-subject requests, the access package, import, jobs (see their modules) ---------
    def create_request(self, uow: UnitOfWork, actor: m.Actor, subject_id: str, type_: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.create`."""
        from consent import dsr

        return dsr.create(self.dsr_deps, uow, actor, subject_id, type_, **kw)

    def get_request(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.get`."""
        from consent import dsr

        return dsr.get(self.dsr_deps, uow, actor, dsr_id, **kw)

    def search_requests(self, uow: UnitOfWork, actor: m.Actor, **kw: Any) -> list[dict]:
        """See :func:`consent.dsr.search`."""
        from consent import dsr

        return dsr.search(self.dsr_deps, uow, actor, **kw)

    def advance_request(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, to_state: str, **kw: Any) -> dict:
        """See :func:`consent.dsr.advance`."""
        from consent import dsr

        return dsr.advance(self.dsr_deps, uow, actor, dsr_id, to_state, **kw)

    def access_package(self, uow: UnitOfWork, actor: m.Actor, dsr_id: str, fmt: str, **kw: Any) -> tuple:
        """See :func:`consent.access.download`."""
        from consent import access

        return access.download(self.package_deps, uow, actor, dsr_id, fmt, **kw)

    def ask_package_approval(self, actor: m.Actor, dsr_id: str, **kw: Any) -> tuple:
        """See :func:`consent.access.ask_approval`."""
        from consent import access

        return access.ask_approval(self.package_deps, actor, dsr_id, **kw)

    def import_consents(self, uow: UnitOfWork, actor: m.Actor, content: bytes, fmt: str, **kw: Any) -> dict:
        """See :func:`consent.importer.run`."""
        from consent import importer

        return importer.run(self.import_deps, uow, actor, content, fmt, **kw)

    def erasure_preview(self, subject_id: str, now: dt.datetime | None = None) -> ErasurePreview:
        """What erasing the subject would do at ``now`` (the service's clock unless given): see
        :func:`consent.erasure.preview`, run and rolled back."""
        from consent import erasure

        self.catalogue.ensure_seeded()
        with self.session_factory() as session:
            try:
                return erasure.preview(session, subject_id, now or self.clock())
            finally:
                session.rollback()  # a preview writes nothing

    def erasure_waits(self, subject_id: str) -> bool:
        """Whether an erasure waits for a hold to end (a pending shred): lifting the subject's
        restriction is refused then (409), so the console offers no form that cannot work."""
        from consent import erasure

        with self.session_factory() as session:
            try:
                return erasure.pending_shred(session, subject_id) is not None
            finally:
                session.rollback()

    def forget_erased(self, session: Session, subject_ids: Sequence[str]) -> int:
        """See :func:`consent.erasure.forget_restored` (``piivault keys replay-erasures``)."""
        from consent import erasure

        return erasure.forget_restored(session, list(subject_ids), self.clock())

    def run_jobs(self) -> Any:
        """See :func:`consent.jobs.run`."""
        from consent import jobs

        return jobs.run(self.job_deps)


def build_consent_service(
    settings: Any,
    *,
    session_factory: sessionmaker[Session],
    uow_factory: Callable[[], UnitOfWork],
    keyring: Keyring,
    catalogue: LivePurposeCatalogue,
    field_types: FieldTypeRegistry,
    audit: Any = None,
    widen_gate: Any = None,
    four_eyes: Any = None,
    client_names: Callable[[Session], dict[str, str]] | None = None,
) -> ConsentService:
    """The service as the composition root wires it (:class:`piivault.container.Container`); no I/O.

    The controller named in receipts, the relationship purposes and DSR due days come from
    the settings; everything else is a collaborator the root made.
    """
    clock = utcnow
    controller = Controller(
        name=settings.controller_name,
        contact=settings.controller_contact,
        address=settings.controller_address,
        email=settings.controller_email,
        phone=settings.controller_phone,
        url=settings.controller_url,
        policy_url=settings.privacy_policy_url,
        jurisdiction=settings.consent_jurisdiction,
        language=settings.consent_language,
    )
    return ConsentService(
        relationship_purposes=frozenset(settings.relationship_purposes),
        session_factory=session_factory,
        uow_factory=uow_factory,
        keyring=keyring,
        catalogue=catalogue,
        field_types=field_types,
        controller=controller,
        audit=audit,
        due_days=settings.dsr_due_days,
        clock=clock,
        time_zone=_time_zone(settings.customer_time_zone),
        # Risk attributes are sealed under subjects' keys: the access package and corrections reach them.
        subject_attributes=attribute_store(field_types),
        widen_gate=widen_gate,
        four_eyes=four_eyes,
        client_names=client_names,
    )


def _time_zone(name: str) -> str:
    """``name`` if it is an IANA time zone; raises ConfigurationError otherwise."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise ConfigurationError(
            "PIIVAULT_CUSTOMER_TIME_ZONE: not a time zone (e.g. Asia/Shanghai)"
        ) from None
    return name
