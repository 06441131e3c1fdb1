"""The composition root: settings in, a wired object graph out.

Nothing is created at import time. ``build_container`` makes the engine, the
key provider and the services; the API app factory and the CLI both use it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import AuditSink, UnitOfWork, check_database, make_engine, utcnow
from piivault.errors import ConfigurationError
from piivault.settings import Settings
from vault import (
    DekCache,
    ErasureLedger,
    KeyProvider,
    Keyring,
    LocalKeyProvider,
    TransitKeyProvider,
)

if TYPE_CHECKING:
    from audit.group import GroupCommit

log = logging.getLogger(__name__)


def build_key_provider(settings: Settings) -> KeyProvider:
    """The configured KEK provider; refuses the in-process one where it does not belong."""
    if settings.key_provider == "local":
        if settings.env == "production" or not (settings.allow_local_keys or settings.env == "test"):
            raise ConfigurationError(
                "PIIVAULT_KEY_PROVIDER=local is for offline tests only: "
                "use transit, or set PIIVAULT_ENV=development and PIIVAULT_ALLOW_LOCAL_KEYS=true"
            )
        return LocalKeyProvider(settings.transit_key)
    addr = settings.require("VAULT_ADDR")
    jwt_role = None
    if settings.vault_auth == "approle":
        role_id = settings.require("VAULT_ROLE_ID")
        secret_id = settings.require("VAULT_SECRET_ID")
        token = None
    elif settings.vault_auth == "jwt":
        jwt_role = settings.require("VAULT_JWT_ROLE")
        token = role_id = secret_id = None
    else:
        token = settings.require("VAULT_TOKEN")
        role_id = secret_id = None
    return TransitKeyProvider(
        addr,
        key_name=settings.transit_key,
        mount=settings.transit_mount,
        token=token,
        role_id=role_id,
        secret_id=secret_id,
        approle_mount=settings.vault_approle_mount,
        jwt_role=jwt_role,
        jwt_file=settings.vault_jwt_file,
        jwt_mount=settings.vault_jwt_mount,
        namespace=settings.vault_namespace,
        cacert=settings.vault_cacert,
        timeout=settings.vault_timeout,
        batch_size=settings.transit_batch_size,
    )


@dataclasses.dataclass
class Container:
    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    provider: KeyProvider
    keyring: Keyring
    audit_sink: AuditSink | None = None
    services: dict[str, Any] = dataclasses.field(default_factory=dict)
    group_commit: GroupCommit | None = None
    read_only_sessions: sessionmaker[Session] | None = None
    _closers: list[Callable[[], None]] = dataclasses.field(default_factory=list)

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work whose audit events are written with its commit.

        When it wrote events, the audit sequencer runs right after the commit
        (``PIIVAULT_AUDIT_SEQUENCE_INLINE``); it never fails the committed action.

        ``read_only``: the unit of work changes nothing but the audit log (a
        detokenize). On PostgreSQL with
        ``PIIVAULT_AUDIT_GROUP_COMMIT`` its transaction is ``READ ONLY`` (a
        write in it fails) and its events are committed together with those of
        other requests arriving at the same time (:mod:`audit.group`);
        otherwise it is an ordinary unit of work.
        """
        if read_only and self.group_commit is not None:
            return UnitOfWork(self.read_only_sessions, None, group=self._group_submit)
        audit = self.services.get("audit")
        if self.audit_sink is None or audit is None or not self.settings.audit_sequence_inline:
            return UnitOfWork(self.session_factory, self.audit_sink)

        def sink_then_sequence(session: Session, events: Any) -> None:
            assert self.audit_sink is not None  # read at commit time: tests may swap it
            self.audit_sink(session, events)
            uow.after_commit(audit.sequence_after_commit)

        uow = UnitOfWork(self.session_factory, sink_then_sequence)
        return uow

    def _group_submit(self, events: Sequence[Any]) -> None:
        assert self.group_commit is not None and self.audit_sink is not None
        self.group_commit.submit(self.audit_sink.prepare(events, utcnow()))

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.provider.close()
        self.engine.dispose()


def build_container(settings: Settings, *, provider: KeyProvider | None = None) -> Container:
    """Wire everything. Raises ConfigurationError for bad settings (no I/O yet)."""
    url = settings.require("DATABASE_URL")
    engine = make_engine(url)
    session_factory = sessionmaker(engine, expire_on_commit=False)
    provider = provider or build_key_provider(settings)
    ledger = ErasureLedger(settings.erasure_ledger) if settings.erasure_ledger else None
    keyring = Keyring(
        provider,
        cache=DekCache(settings.dek_cache_size, settings.dek_cache_ttl),
        ledger=ledger,
    )
    from audit.service import build_audit_log
    from audit.sink import QueueSink

    audit_log = build_audit_log(settings, engine, session_factory, keyring)
    # The sink and the sequencer share one authenticator: the MAC key is unwrapped once per process.
    sink = QueueSink(audit_log.sequencer.authenticator)
    container = Container(settings, engine, session_factory, provider, keyring, audit_sink=sink)
    container.services["audit"] = audit_log
    container._closers.append(container.services["audit"].close)
    if settings.audit_group_commit and engine.dialect.name == "postgresql":
        from audit.group import GroupCommit

        audit = container.services["audit"]
        container.group_commit = GroupCommit(
            engine, after_batch=audit.sequence_after_commit if settings.audit_sequence_inline else None
        )
        container._closers.append(container.group_commit.close)
        # Same pool; psycopg begins these sessions' transactions with BEGIN READ ONLY.
        container.read_only_sessions = sessionmaker(
            engine.execution_options(postgresql_readonly=True), expire_on_commit=False
        )
    from throttle import AnswerBudget
    from tokenization.service import build_tokenization_service

    answer_budget = AnswerBudget(
        session_factory,
        limit=settings.answer_budget,
        window=dt.timedelta(seconds=settings.answer_budget_window),
    )
    container.services["tokenization"] = build_tokenization_service(
        settings, keyring, answer_budget=answer_budget
    )
    from consent.service import build_consent_service

    # Purposes come from the consent tables (seeded from the configuration); the policy
    # decision point asks the consent service about consent and holds.
    consent = container.services["consent"] = build_consent_service(settings, container)
    tokenization = container.services["tokenization"]
    tokenization.purposes = consent.catalogue
    tokenization.consent_check = consent.check
    tokenization.consent_join = consent.consent_join
    tokenization.restriction_exempt = consent.restriction_exempt
    from access.service import build_access_service

    # Approvals and grants: the policy decision point, client keys and DSR packages consult them.
    container.services["access"] = build_access_service(settings, container)
    tokenization.reveal_grants = container.services["access"].reveal_grants
    from access.purposes import PurposeApprovals

    # Purpose changes that widen access wait for a DPO's approval and apply when it comes.
    consent.widen_gate = PurposeApprovals(container.services["access"], consent)
    from anonymize.extract.service import build_extract_service

    # Extract jobs; its in-process worker (if any was started) stops with the container.
    extracts = container.services["extracts"] = build_extract_service(settings, container)
    container._closers.append(extracts.close)
    # Risk attributes are sealed under subjects' keys, re-identification maps under extracts' keys:
    # destroying a key deletes them too. The data-subject access package and corrections reach them.
    keyring.on_destroy(extracts.forget_destroyed)
    consent.subject_attributes = extracts.attribute_store()
    # The customer's copy of an access request names a client by the name an admin gave it.
    consent.client_names = _client_names
    from access.gate import FourEyes

    # Four eyes on access packages, erasures and re-identification (access.gate).
    consent.four_eyes = extracts.four_eyes = FourEyes(container.services["access"])
    return container


def _client_names(session: Any) -> dict[str, str]:
    """API client id -> name, read in the caller's session (the clients' table belongs to identity/)."""
    from identity.clients.tables import clients

    return {row.id: row.name for row in session.execute(sa.select(clients.c.id, clients.c.name))}


def startup_check(container: Container) -> None:
    """Everything that must hold before serving; raises one clear error.

    Checks that production has every setting it needs, the database, the schema
    revision, the KEK (reachable, authorised, present), that no ledgered erasure or key
    destruction is waiting for replay, and the audit log's head and checkpoint key.
    """
    from piivault import migrate  # Alembic: only where the schema is checked

    container.settings.require_production()
    check_database(container.engine)
    current = migrate.current_revisions(container.engine)
    heads = migrate.head_revisions()
    if current != heads:
        at = ", ".join(sorted(current)) or "nothing"
        raise ConfigurationError(f"database schema is at {at}, not the latest: run `piivault db upgrade`")
    container.provider.check()
    with container.session_factory() as session:
        pending = container.keyring.pending_erasures(session)
        pending_keys = container.keyring.pending_system_keys(session)
    if pending:
        raise ConfigurationError(
            f"{len(pending)} erased subject(s) have data keys again (database restored from a "
            "backup?): run `piivault keys replay-erasures` before serving"
        )
    if pending_keys:
        raise ConfigurationError(
            f"{len(pending_keys)} destroyed key(s) (expired extracts' pseudonym keys) exist again "
            "(database restored from a backup?): run `piivault keys replay-erasures` before serving"
        )
    container.services["audit"].check()
    from access.rules import log_four_eyes

    log_four_eyes(container.services["access"].rules)
