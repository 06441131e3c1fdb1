"""The composition root: settings in, a wired object graph out.

Nothing is created at import time. ``build_container`` makes the engine, the
key provider and the services; the API app factory and the CLI both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import UnitOfWork, check_database, make_engine, utcnow
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
    from access.service import AccessService
    from anonymize.extract.service import ExtractService
    from audit.group import GroupCommit
    from audit.service import AuditLog
    from audit.sink import QueueSink
    from consent.service import ConsentService
    from identity.clients.store import ClientStore
    from identity.users.sessions import SessionStore
    from identity.users.users import UserStore
    from tokenization.service import TokenizationService

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


class Container:
    """Every service of one process, each built here with its collaborators (no I/O yet).

    The typed fields are the whole object graph: nothing is looked up by name,
    created later elsewhere, or wired by assigning to a service after it was made.
    Raises ConfigurationError for bad settings.

    Built bottom-up, as the layers go: the kernel (engine, units of work), the
    vault (KEK provider, keyring), the audit log, identities, approvals and grants,
    the privacy core's consent service, tokenization over it, extracts on top.
    """

    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    provider: KeyProvider
    keyring: Keyring
    audit: AuditLog
    audit_sink: QueueSink
    group_commit: GroupCommit | None
    read_only_sessions: sessionmaker[Session] | None
    access: AccessService
    clients: ClientStore
    users: UserStore
    sessions: SessionStore
    consent: ConsentService
    tokenization: TokenizationService
    extracts: ExtractService

    def __init__(self, settings: Settings, *, provider: KeyProvider | None = None) -> None:
        from access.gate import FourEyes
        from access.identity import client_approved, user_approved
        from access.service import build_access_service
        from anonymize.extract.attributes import AttributeStore
        from anonymize.extract.service import build_extract_service
        from audit.service import build_audit_log
        from audit.sink import QueueSink
        from consent.purposes import LivePurposeCatalogue
        from consent.service import build_consent_service
        from consent.widening import PurposeApprovals
        from identity.clients.store import ClientStore
        from identity.users.sessions import build_session_store
        from identity.users.users import build_user_store
        from throttle import AnswerBudget
        from tokenization.service import (
            build_tokenization_service,
            configured_field_types,
            configured_purposes,
        )

        self.settings = settings
        self._closers: list[Callable[[], None]] = []
        self.engine = make_engine(settings.require("DATABASE_URL"))
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.provider = provider or build_key_provider(settings)
        ledger = ErasureLedger(settings.erasure_ledger) if settings.erasure_ledger else None
        self.keyring = Keyring(
            self.provider,
            cache=DekCache(settings.dek_cache_size, settings.dek_cache_ttl),
            ledger=ledger,
        )

        self.audit = build_audit_log(settings, self.engine, self.session_factory, self.keyring)
        self._closers.append(self.audit.close)
        # The sink and the sequencer share one authenticator: the MAC key is unwrapped once per process.
        self.audit_sink = QueueSink(self.audit.sequencer.authenticator)
        self.group_commit = None
        self.read_only_sessions = None
        if settings.audit_group_commit and self.engine.dialect.name == "postgresql":
            from audit.group import GroupCommit

            self.group_commit = GroupCommit(
                self.engine,
                after_batch=self.audit.sequence_after_commit if settings.audit_sequence_inline else None,
            )
            self._closers.append(self.group_commit.close)
            # Same pool; psycopg begins these sessions' transactions with BEGIN READ ONLY.
            self.read_only_sessions = sessionmaker(
                self.engine.execution_options(postgresql_readonly=True), expire_on_commit=False
            )

        # Field types and purposes: configured, then the purposes live in the consent tables
        # (seeded from the configuration) and every service reads that one catalogue.
        field_types = configured_field_types(settings)
        catalogue = LivePurposeCatalogue(
            self.session_factory,
            configured_purposes(settings, field_types),
            ttl=settings.purpose_cache_seconds,
            clock=utcnow,
        )

        # Approvals and grants: the policy decision point, client keys, console users that
        # approve, DSR packages, erasures and re-identification consult them.
        self.access = build_access_service(
            settings,
            uow_factory=self.uow,
            session_factory=self.session_factory,
            looks_like_identifier=field_types.looks_like_identifier,
            purposes=catalogue,
        )
        access = self.access
        four_eyes = FourEyes(access)
        self.clients = ClientStore(
            self.uow,
            self.session_factory,
            self.keyring,
            purposes=catalogue,
            field_types=field_types,
            verified_cache_seconds=settings.auth_cache_seconds,
            # A client with data access works only while a client.data_access grant exists.
            data_access=lambda session, client, now: client_approved(access, session, client, now),
        )
        self.users = build_user_store(settings, self.uow)
        self.sessions = build_session_store(
            settings,
            self.uow,
            self.keyring,
            # A console user in an approving role acts only while approved (access.identity).
            approved=lambda session, username, now: user_approved(access, session, username, now),
        )

        # Risk attributes are sealed under subjects' keys: the access package and corrections reach them.
        attributes = AttributeStore(frozenset({*field_types.codes(), "subject_id"}))
        self.consent = build_consent_service(
            settings,
            session_factory=self.session_factory,
            uow_factory=self.uow,
            keyring=self.keyring,
            catalogue=catalogue,
            field_types=field_types,
            audit=self.audit,
            subject_attributes=attributes,
            # Purpose changes that widen access wait for a DPO's approval and apply when it comes.
            widen_gate=PurposeApprovals(access, catalogue=catalogue, field_types=field_types),
            # Four eyes on access packages and erasures (access.gate).
            four_eyes=four_eyes,
            # The customer's copy of an access request names a client by the name an admin gave it.
            client_names=_client_names,
        )
        consent = self.consent
        # The policy decision point asks the consent service about consent and holds, access about grants.
        self.tokenization = build_tokenization_service(
            settings,
            self.keyring,
            field_types=field_types,
            purposes=catalogue,
            consent_check=consent.check,
            consent_join=consent.consent_join,
            restriction_exempt=consent.restriction_exempt,
            reveal_grants=access.reveal_grants,
            answer_budget=AnswerBudget(
                self.session_factory,
                limit=settings.answer_budget,
                window=dt.timedelta(seconds=settings.answer_budget_window),
            ),
        )
        # Extract jobs; its in-process worker (if any was started) stops with the container.
        self.extracts = build_extract_service(
            settings,
            session_factory=self.session_factory,
            uow_factory=self.uow,
            keyring=self.keyring,
            consent=consent,
            field_types=field_types,
            four_eyes=four_eyes,
        )
        self._closers.append(self.extracts.close)
        # Risk attributes and re-identification maps are sealed under subjects' and extracts' keys:
        # destroying a key deletes them too (the keyring, made first, tells its listeners).
        self.keyring.on_destroy(self.extracts.forget_destroyed)

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
        if not self.settings.audit_sequence_inline:
            return UnitOfWork(self.session_factory, self.audit_sink)

        def sink_then_sequence(session: Session, events: Any) -> None:
            self.audit_sink(session, events)  # read at commit time: tests may swap it
            uow.after_commit(self.audit.sequence_after_commit)

        uow = UnitOfWork(self.session_factory, sink_then_sequence)
        return uow

    def _group_submit(self, events: Sequence[Any]) -> None:
        assert self.group_commit is not None
        self.group_commit.submit(self.audit_sink.prepare(events, utcnow()))

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.provider.close()
        self.engine.dispose()


def build_container(settings: Settings, *, provider: KeyProvider | None = None) -> Container:
    """Wire everything. Raises ConfigurationError for bad settings (no I/O yet)."""
    return Container(settings, provider=provider)


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
    container.audit.check()
    from access.rules import log_four_eyes

    log_four_eyes(container.access.rules)
