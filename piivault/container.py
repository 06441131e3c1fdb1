"""The composition root: settings in, a wired object graph out.

Nothing is created at import time. ``build_container`` makes the engine and the
key provider; each service is built, and its package imported, when it is first
used (a CLI command pays only for what it touches); the API server builds them
all at start (``Container.build_all``). The API app factory and the CLI both use it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from piivault.db import (
    Statement,
    UnitOfWork,
    check_database,
    check_isolation,
    make_engine,
    make_read_only_engine,
    utcnow,
)
from piivault.errors import ConfigurationError
from piivault.settings import Settings
from vault import KeyProvider, Keyring, LocalKeyProvider, TransitKeyProvider

# Only the types: each service's package is imported by the property that builds it.
if TYPE_CHECKING:
    from access.gate import FourEyes
    from access.service import AccessService
    from anonymize.extract.service import ExtractService
    from audit.group import GroupCommit
    from audit.service import AuditLog
    from audit.sink import QueueSink
    from consent.service import ConsentService
    from fieldtypes import FieldTypeRegistry
    from identity.clients.store import ClientStore
    from identity.users.sessions import SessionStore
    from identity.users.users import UserStore
    from privacy.catalogue import LivePurposeCatalogue
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
    """Every service of one process as a typed attribute, each built on first use with its
    collaborators (no I/O yet).

    The typed attributes are the whole object graph: nothing is looked up by name,
    created elsewhere, or wired by assigning to a service after it was made. The
    constructor makes only the engine and the key provider (so bad settings raise
    ConfigurationError at once); every service is a ``cached_property`` that builds
    it, and what it needs, the first time it is read, importing its package only
    then. A command that lists API clients therefore builds the keyring and the
    client store (the audit sink too when it writes), and never imports consent,
    tokenization, extracts or their libraries. :meth:`build_all` builds everything (the API server does, at
    start, so that its first request does not pay for it).

    Wiring that spans services is done by whichever side is built, so the order in
    which they are built does not matter: the keyring's destroy listener builds the
    extract service when a key is destroyed, not before.

    The layers, bottom-up: the kernel (engine, units of work), the vault (KEK
    provider, keyring), the audit log, identities, approvals and grants, the privacy
    core (purposes, subjects, consent records and the policy decision point: modules the
    services below call in their own sessions, no service of its own), tokenization over
    it, the consent service (consents, receipts, holds, DSRs, erasure) over both,
    extracts on top.
    """

    settings: Settings
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    provider: KeyProvider

    def __init__(self, settings: Settings, *, provider: KeyProvider | None = None) -> None:
        self.settings = settings
        self._closers: list[Callable[[], None]] = []
        self.engine = make_engine(settings.require("DATABASE_URL"))
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.provider = provider or build_key_provider(settings)

    def build_all(self) -> Container:
        """Build every service now (the API server, at start); returns the container.

        Every one, in the order they are declared (the layers, bottom-up): a request
        thread then never builds one, so none is built twice by two first requests."""
        for name, attribute in vars(type(self)).items():
            if isinstance(attribute, cached_property):
                getattr(self, name)
        return self

    # -- the vault and the audit log ---------------------------------------------------
    @cached_property
    def keyring(self) -> Keyring:
        from vault import DekCache, ErasureLedger

        settings = self.settings
        ledger = ErasureLedger(settings.erasure_ledger) if settings.erasure_ledger else None
        keyring = Keyring(
            self.provider,
            cache=DekCache(settings.dek_cache_size, settings.dek_cache_ttl),
            ledger=ledger,
        )
        # Risk attributes and re-identification maps are sealed under subjects' and extracts'
        # keys: destroying a key deletes them too. Registered with the keyring itself, so that
        # an erasure deletes them whichever services were built before it.
        keyring.on_destroy(self._forget_destroyed)
        return keyring

    def _forget_destroyed(self, session: Session, owners: Sequence[str]) -> None:
        """The keyring's destroy listener: the extract service (built now if it was not yet)
        deletes what was sealed under the destroyed keys, in the destroying transaction."""
        self.extracts.forget_destroyed(session, owners)

    @cached_property
    def audit(self) -> AuditLog:
        from audit.service import build_audit_log

        audit = build_audit_log(self.settings, self.engine, self.session_factory, self.keyring, self.uow)
        self._closers.append(audit.close)
        return audit

    @cached_property
    def audit_sink(self) -> QueueSink:
        from audit.sink import QueueSink

        # The sink and the sequencer share one authenticator: the MAC key is unwrapped once per process.
        return QueueSink(self.audit.sequencer.authenticator)

    @cached_property
    def group_commit(self) -> GroupCommit | None:
        """Read-only units of work commit their events together (PostgreSQL, when configured)."""
        if not (self.settings.audit_group_commit and self.engine.dialect.name == "postgresql"):
            return None
        from audit.group import GroupCommit

        group = GroupCommit(
            self.engine,
            after_batch=self.audit.sequence_after_commit if self.settings.audit_sequence_inline else None,
        )
        self._closers.append(group.close)
        return group

    @cached_property
    def read_only_engine(self) -> sa.Engine | None:
        if self.group_commit is None:
            return None
        # Each statement its own READ ONLY transaction, on a pool of its own (make_read_only_engine).
        engine = make_read_only_engine(self.engine)
        self._closers.append(engine.dispose)
        return engine

    @cached_property
    def read_only_sessions(self) -> sessionmaker[Session] | None:
        engine = self.read_only_engine
        return None if engine is None else sessionmaker(engine, expire_on_commit=False)

    # -- field types and purposes --------------------------------------------------------
    @cached_property
    def _field_types(self) -> FieldTypeRegistry:
        from tokenization.service import configured_field_types

        return configured_field_types(self.settings)

    @cached_property
    def _purposes(self) -> LivePurposeCatalogue:
        """Configured, then live in the consent tables (seeded from the configuration):
        every service reads this one catalogue."""
        from privacy.catalogue import LivePurposeCatalogue
        from tokenization.service import configured_purposes

        return LivePurposeCatalogue(
            self.session_factory,
            configured_purposes(self.settings, self._field_types),
            ttl=self.settings.purpose_cache_seconds,
            clock=utcnow,
        )

    # -- identities, approvals and grants ------------------------------------------------
    @cached_property
    def access(self) -> AccessService:
        """Approvals and grants: the policy decision point, client keys, console users that
        approve, DSR packages, erasures and re-identification consult them."""
        from access.service import build_access_service

        return build_access_service(
            self.settings,
            uow_factory=self.uow,
            session_factory=self.session_factory,
            looks_like_identifier=self._field_types.looks_like_identifier,
            purposes=self._purposes,
        )

    @cached_property
    def _four_eyes(self) -> FourEyes:
        """Four eyes on access packages, erasures and re-identification (access.gate)."""
        from access.gate import FourEyes

        return FourEyes(self.access)

    @cached_property
    def clients(self) -> ClientStore:
        from access.identity import client_approved
        from identity.clients.store import ClientStore

        return ClientStore(
            self.uow,
            self.session_factory,
            self.keyring,
            # Read only to check a new client's codes: `clients list` loads neither catalogue.
            purposes=_OnFirstUse(lambda: self._purposes),
            field_types=_OnFirstUse(lambda: self._field_types),
            verified_cache_seconds=self.settings.auth_cache_seconds,
            # A client with data access works only while a client.data_access grant exists,
            # read with the client's row.
            data_access=client_approved,
            read_sessions=self.read_only_sessions,
            read_engine=self.read_only_engine or self.engine,
        )

    @cached_property
    def users(self) -> UserStore:
        from identity.users.users import build_user_store

        return build_user_store(self.settings, self.uow)

    @cached_property
    def sessions(self) -> SessionStore:
        from identity.users.sessions import build_session_store

        # A console user in an approving role acts only while approved (access.identity).
        return build_session_store(self.settings, self.uow, self.keyring, approved=self._user_approved)

    def _user_approved(self, session: Session, username: str, now: dt.datetime) -> bool:
        from access.identity import user_approved

        return user_approved(self.access, session, username, now)

    # -- consent: what each subject said, holds, DSRs, erasure --------------------------------
    @cached_property
    def consent(self) -> ConsentService:
        from consent.service import build_consent_service
        from privacy.widening import PurposeApprovals

        field_types, catalogue = self._field_types, self._purposes
        return build_consent_service(
            self.settings,
            session_factory=self.session_factory,
            uow_factory=self.uow,
            keyring=self.keyring,
            catalogue=catalogue,
            field_types=field_types,
            audit=self.audit,
            # Purpose changes that widen access wait for a DPO's approval and apply when it comes.
            widen_gate=PurposeApprovals(self.access, catalogue=catalogue, field_types=field_types),
            four_eyes=self._four_eyes,
            # The customer's copy of an access request names a client by the name an admin gave it.
            client_names=_client_names,
        )

    @cached_property
    def tokenization(self) -> TokenizationService:
        from throttle import AnswerBudget
        from tokenization.service import build_tokenization_service

        settings = self.settings
        # The policy decision point reads consent and holds from the privacy core itself (in the
        # request's session), and asks access about grants.
        return build_tokenization_service(
            settings,
            self.keyring,
            field_types=self._field_types,
            purposes=self._purposes,
            reveal_grants=self.access.reveal_grants,
            answer_budget=AnswerBudget(
                self.session_factory,
                limit=settings.answer_budget,
                window=dt.timedelta(seconds=settings.answer_budget_window),
            ),
        )

    @cached_property
    def extracts(self) -> ExtractService:
        """Extract jobs; its in-process worker (if any was started) stops with the container."""
        from anonymize.extract.service import build_extract_service

        extracts = build_extract_service(
            self.settings,
            session_factory=self.session_factory,
            uow_factory=self.uow,
            keyring=self.keyring,
            consent=self.consent,
            field_types=self._field_types,
            four_eyes=self._four_eyes,
        )
        self._closers.append(extracts.close)
        return extracts

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

        sink = _SinkThenSequence(self)
        sink.uow = UnitOfWork(self.session_factory, sink)
        return sink.uow

    def _group_submit(self, events: Sequence[Any]) -> None:
        assert self.group_commit is not None
        self.group_commit.submit(self.audit_sink.prepare(events, utcnow()))

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer()
        self.provider.close()
        self.engine.dispose()


class _SinkThenSequence:
    """The container's audit sink, read at commit time (tests may swap it), that has its unit of
    work run the audit sequencer once it has committed the events."""

    def __init__(self, container: Container) -> None:
        self._container = container
        self.uow: UnitOfWork | None = None

    def __call__(self, session: Session, events: Sequence[Any]) -> None:
        self._container.audit_sink(session, events)
        self._sequence_after_commit()

    def alone(self, events: Sequence[Any], change: Statement, *, guarded: bool = False) -> Statement:
        statement = self._container.audit_sink.alone(events, change, guarded=guarded)
        self._sequence_after_commit()
        return statement

    def _sequence_after_commit(self) -> None:
        assert self.uow is not None
        self.uow.after_commit(self._container.audit.sequence_after_commit)


class _OnFirstUse(Collection[str]):
    """A collection of codes (a catalogue) got from ``load`` when first asked about: a service
    that checks codes only when it writes does not build the catalogue to read."""

    def __init__(self, load: Callable[[], Collection[str]]) -> None:
        self._load = load

    def __contains__(self, code: object) -> bool:
        return code in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def build_container(settings: Settings, *, provider: KeyProvider | None = None) -> Container:
    """The container; its services are built on first use (``build_all()`` builds them now).

    Raises ConfigurationError for bad settings (no I/O yet).
    """
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
    check_isolation(container.engine)
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
