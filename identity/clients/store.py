"""The client store: create, list, revoke and authenticate API clients.

Keys are shown once, at creation, and stored only as HMAC-SHA256 under the
system data key ``api-key-hmac`` (a DEK wrapped by the Vault KEK, cached in
memory like every other DEK). Why a keyed hash and not plain SHA-256: the
secret has 256 bits, so neither needs a slow password hash, but with a key
held under the KEK a copy of the database alone cannot even confirm a guessed
key, and HMAC stays inside :mod:`vault` as the design requires.

Creating and revoking a client is audited in the same transaction. No method
logs, returns (except :meth:`ClientStore.create`, once) or raises with a key.

Verified keys may be remembered for ``verified_cache_seconds``
(``PIIVAULT_AUTH_CACHE_SECONDS``; default 0, off): a request with a key
verified that recently costs no database statement. The bound this puts
on revocation: a key revoked through this process fails at once (the store
forgets it); revoked through another process (another gunicorn worker, the
CLI), it fails there within that many seconds. Off, revocation is immediate
everywhere. Expiry is checked on every request. The cache is keyed by the
SHA-256 of the whole presented key, so a lookup reveals nothing about a key
the caller does not hold (finding an entry needs a preimage), and only keys
that verified are ever cached.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session, sessionmaker

from audit.events import AuditEvent
from identity.clients import keys
from identity.clients.errors import (
    ApiKeyExpired,
    ApiKeyRevoked,
    ClientPendingApproval,
    InvalidApiKey,
    LastAdmin,
    SelfRevocation,
)
from identity.clients.model import (
    ACTIVE,
    ADMIN,
    CODE_PATTERN,
    MAX_CODES,
    MAX_EXPIRY_DAYS,
    NAME_PATTERN,
    PERMISSIONS,
    PURPOSE_BOUND_ROLES,
    REVOKED,
    ROLES,
    Client,
    Principal,
    has_data_access,
)
from identity.clients.tables import clients as t
from identity.person import check_person
from piivault.db import UnitOfWork, session_scope, utcnow
from piivault.direct import direct_read
from piivault.errors import Conflict, NotFound, ValidationFailed
from piivault.sql import for_update
from vault import DataKey, Keyring, constant_time_equal

log = logging.getLogger(__name__)

HMAC_KEY_NAME = "api-key-hmac"
HMAC_LABEL = "api-key"
# last_used_at is a hint for operators, not an audit record: write it at most
# once a minute per client so authentication stays a read on the hot path.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
_ID_ATTEMPTS = 5
# Verified keys remembered at most: one entry per valid key in use, so a bound
# that is never reached by real clients only stops unbounded growth.
VERIFIED_CACHE_MAX = 10_000

_COLUMNS = (
    t.c.id,
    t.c.name,
    t.c.role,
    t.c.purposes,
    t.c.field_types,
    t.c.created_at,
    t.c.created_by,
    t.c.expires_at,
    t.c.revoked_at,
    t.c.revoked_by,
    t.c.last_used_at,
    t.c.person,
    t.c.permissions,
    t.c.needs_approval,
)


def _client(row: Any) -> Client:
    return Client(
        id=row.id,
        name=row.name,
        role=row.role,
        purposes=tuple(row.purposes),
        field_types=None if row.field_types is None else tuple(row.field_types),
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        last_used_at=row.last_used_at,
        person=row.person,
        permissions=tuple(row.permissions or ()),
        needs_approval=bool(row.needs_approval),
    )


def _codes(kind: str, values: Sequence[str], known: Collection[str] | None) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(v.strip() for v in values if v.strip()))
    if len(codes) > MAX_CODES:
        raise ValidationFailed(f"at most {MAX_CODES} {kind}")
    for code in codes:
        if not CODE_PATTERN.fullmatch(code):
            raise ValidationFailed(f"{kind} must be lowercase codes like risk_scoring")
    unknown = [c for c in codes if known is not None and c not in known]
    if unknown:
        # Codes are configuration names (checked above), never personal data.
        raise ValidationFailed(f"unknown {kind}: {', '.join(unknown)}")
    return codes


# Is a client that needs approval approved? SQL over the client's id and role columns and a
# time, read with the client's row: data access for a service client, its identity for an
# approving role (access.identity.client_approved).
ApprovalClause = Callable[[Any, Any, Any], sa.ColumnElement[bool]]


def _never_approved(client_id: Any, role: Any, now: Any) -> sa.ColumnElement[bool]:
    return sa.false()  # no access service wired: fail closed


def _key_row(approved: ApprovalClause) -> sa.Select[Any]:
    """A presented key's client row, stored hash and approval, in one statement built once: it is
    on every request the verified-key cache does not answer."""
    now = sa.bindparam("now", type_=t.c.expires_at.type)
    return sa.select(*_COLUMNS, t.c.key_hash, approved(t.c.id, t.c.role, now).label("approved")).where(
        t.c.id == sa.bindparam("id", type_=t.c.id.type)
    )


class ClientStore:
    """``purposes`` and ``field_types``, when given, are the catalogues a client's
    codes must come from (anything supporting ``in``). ``data_access`` builds the SQL that
    tells whether a client that needs approval (:func:`~identity.clients.model.has_data_access`)
    holds it now, read with the client's row; without it such keys never work.
    ``read_sessions`` (PostgreSQL's read-only autocommit sessions, when the service has
    them) serve authentication's reads: no BEGIN and COMMIT around them. ``read_engine``
    (those sessions' engine, or the service's) reads a presented key's row on psycopg's own
    connection (:mod:`piivault.direct`): the check on every request."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        session_factory: sessionmaker[Session],
        keyring: Keyring,
        *,
        purposes: Collection[str] | None = None,
        field_types: Collection[str] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        verified_cache_seconds: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
        data_access: ApprovalClause = _never_approved,
        read_sessions: sessionmaker[Session] | None = None,
        read_engine: sa.Engine | None = None,
    ) -> None:
        self._key_row = _key_row(data_access)
        # With psycopg the row is read on the driver's own connection (piivault.direct).
        self._direct_key_row = direct_read(self._key_row, read_engine)
        self._uow_factory = uow_factory
        self._session_factory = session_factory
        self._read_sessions = read_sessions or session_factory
        self._keyring = keyring
        self._purposes = purposes
        self._field_types = field_types
        self.clock = clock
        self.verified_cache_seconds = verified_cache_seconds
        self._monotonic = monotonic
        # sha256(presented key) -> (monotonic deadline, self.clock() when verified, client, principal)
        self._verified: dict[bytes, tuple[float, dt.datetime, Client, Principal]] = {}
        self._verified_lock = threading.Lock()

    def _hmac_key(self, session: Session) -> DataKey:
        """The API keys' HMAC key, made with the first client."""
        return self._keyring.system_key(session, HMAC_KEY_NAME)

    @staticmethod
    def _digest(hmac_key: DataKey, key: keys.ApiKey) -> bytes:
        return hmac_key.keyed_hash(HMAC_LABEL, str(key).encode("ascii"))

    # -- administration -------------------------------------------------------------
    def create(
        self,
        *,
        name: str,
        role: str,
        actor: str,
        purposes: Sequence[str] = (),
        field_types: Sequence[str] | None = None,
        expires_in: dt.timedelta | None = None,
        person: str | None = None,
        permissions: Sequence[str] = (),
        in_transaction: Callable[[UnitOfWork, Client], object] | None = None,
        approving: bool = False,
    ) -> tuple[Client, str]:
        """Create a client; return it and its API key, which is never available again.

        A client with data access (:func:`~identity.clients.model.has_data_access`) is
        created needing approval: its key is refused (``client_pending_approval``)
        until a ``client.data_access`` grant for it exists. ``in_transaction`` runs
        in the creating unit of work (it asks for that approval, :mod:`access.onboarding`);
        what it raises undoes the creation.

        ``approving``: the role approves something (:mod:`access.identity`), so the
        key too waits for an ``identity.approver`` grant.

        ``permissions`` are given explicitly (:data:`~identity.clients.model.PERMISSIONS`:
        ``write_attributes`` for service clients). Raises :class:`ValidationFailed`
        for a bad name, role, expiry, permission, or a purpose or field type that
        is malformed or not in the catalogue,
        :class:`StorageUnavailable` and the vault errors (``VaultUnavailable``,
        ``KeyNotFound``) when a dependency fails; nothing is written then.
        """
        if not NAME_PATTERN.fullmatch(name):
            raise ValidationFailed("name must be 1-64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise ValidationFailed(f"role must be one of: {', '.join(ROLES)}")
        if person is not None:
            try:
                person = check_person(person)
            except ValueError as e:
                raise ValidationFailed(str(e)) from None
        purpose_codes = _codes("purposes", purposes, self._purposes)
        type_codes = None if field_types is None else _codes("field types", field_types, self._field_types)
        if role not in PURPOSE_BOUND_ROLES and (purpose_codes or type_codes is not None):
            raise ValidationFailed(
                f"purposes and field types apply to {' and '.join(PURPOSE_BOUND_ROLES)} clients only"
            )
        granted = tuple(dict.fromkeys(permissions))
        for permission in granted:
            roles = PERMISSIONS.get(permission)
            if roles is None:
                raise ValidationFailed(f"permissions must be among: {', '.join(PERMISSIONS)}")
            if role not in roles:
                raise ValidationFailed(f"{permission} is for {' and '.join(sorted(roles))} clients only")
        if expires_in is not None and not dt.timedelta(0) < expires_in <= dt.timedelta(MAX_EXPIRY_DAYS):
            raise ValidationFailed(f"a key must expire within 1 to {MAX_EXPIRY_DAYS} days")
        now = self.clock()
        expires_at = now + expires_in if expires_in is not None else None
        needs_approval = approving or has_data_access(role, purpose_codes, granted)
        with self._uow_factory() as uow:
            session = uow.session
            assert session is not None
            hmac_key = self._hmac_key(session)
            for _ in range(_ID_ATTEMPTS):
                key = keys.generate()
                try:
                    with session.begin_nested():
                        session.execute(
                            t.insert().values(
                                id=key.public_id,
                                name=name,
                                role=role,
                                purposes=list(purpose_codes),
                                field_types=None if type_codes is None else list(type_codes),
                                permissions=list(granted),
                                key_hash=self._digest(hmac_key, key),
                                created_at=now,
                                created_by=actor,
                                expires_at=expires_at,
                                person=person,
                                needs_approval=needs_approval,
                            )
                        )
                    break
                except exc.IntegrityError:
                    continue  # public id taken: draw another
            else:  # pragma: no cover - 36**8 ids make this all but impossible
                raise Conflict("could not allocate a client id; retry")
            uow.record(
                AuditEvent(
                    action="client.create",
                    actor=actor,
                    details={
                        "client_id": key.public_id,
                        "name": name,
                        "role": role,
                        "purposes": list(purpose_codes),
                        "field_types": None if type_codes is None else list(type_codes),
                        "permissions": list(granted),
                        "expires_at": expires_at.isoformat() if expires_at else None,
                        "person": person,
                        "needs_approval": needs_approval,
                    },
                )
            )
            client = Client(
                id=key.public_id,
                name=name,
                role=role,
                purposes=purpose_codes,
                field_types=type_codes,
                created_at=now,
                created_by=actor,
                expires_at=expires_at,
                person=person,
                permissions=granted,
                needs_approval=needs_approval,
            )
            if in_transaction is not None:
                in_transaction(uow, client)
            uow.commit()
        log.info("API client %s created (role %s) by %s", client.id, role, actor)
        return client, str(key)

    def list_clients(self) -> list[Client]:
        """Every client, oldest first. Raises :class:`StorageUnavailable`."""
        with session_scope(self._session_factory) as session:
            rows = session.execute(sa.select(*_COLUMNS).order_by(t.c.created_at, t.c.id))
            return [_client(r) for r in rows]

    def get(self, client_id: str) -> Client:
        """One client. Raises :class:`NotFound` or :class:`StorageUnavailable`."""
        with session_scope(self._session_factory) as session:
            row = session.execute(sa.select(*_COLUMNS).where(t.c.id == client_id)).first()
        if row is None:
            raise NotFound("no such client")
        return _client(row)

    def find_by_name(self, name: str) -> list[Client]:
        """Clients with this name, in any state. Raises :class:`StorageUnavailable`."""
        with session_scope(self._session_factory) as session:
            rows = session.execute(sa.select(*_COLUMNS).where(t.c.name == name).order_by(t.c.created_at))
            return [_client(r) for r in rows]

    def revoke(self, client_id: str, *, actor: str, caller_id: str | None = None) -> Client:
        """Revoke a client's key at once and for good.

        ``caller_id`` is the client whose key makes the request (None from the
        CLI). Raises :class:`NotFound`, :class:`SelfRevocation` when a key
        would revoke itself, :class:`LastAdmin` when no other active admin
        would remain, :class:`Conflict` if it is already revoked, and
        :class:`StorageUnavailable`.
        """
        if caller_id is not None and caller_id == client_id:
            raise SelfRevocation()
        now = self.clock()
        with self._uow_factory() as uow:
            session = uow.session
            assert session is not None
            # Lock the active admins first: two admins revoking each other at once must not
            # both see the other one as "another active admin".
            active_admins = session.scalars(
                for_update(
                    sa.select(t.c.id)
                    .where(
                        t.c.role == ADMIN,
                        t.c.revoked_at.is_(None),
                        sa.or_(t.c.expires_at.is_(None), t.c.expires_at > now),
                    )
                    .order_by(t.c.id),
                    session,
                )
            ).all()
            if active_admins == [client_id]:
                raise LastAdmin()
            done = session.execute(
                t.update()
                .where(t.c.id == client_id, t.c.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by=actor)
            )
            row = session.execute(sa.select(*_COLUMNS).where(t.c.id == client_id)).first()
            if row is None:
                raise NotFound("no such client")
            if done.rowcount == 0:
                raise Conflict("the client is already revoked")
            uow.record(
                AuditEvent(
                    action="client.revoke",
                    actor=actor,
                    details={"client_id": client_id, "name": row.name, "role": row.role},
                )
            )
            uow.commit()
        self._forget_verified(client_id)
        log.info("API client %s revoked by %s", client_id, actor)
        return _client(row)

    # -- authentication -------------------------------------------------------------
    def authenticate(self, presented: str) -> Principal:
        """The principal for a presented API key.

        Raises :class:`InvalidApiKey` (malformed, unknown or wrong key, or the HMAC key missing),
        :class:`ApiKeyRevoked`, :class:`ApiKeyExpired` or :class:`ClientPendingApproval`
        (only once the key itself has been verified, so its state is told to its holder
        alone), :class:`StorageUnavailable` and ``VaultUnavailable``.
        """
        key = keys.parse(presented)
        if key is None:
            raise InvalidApiKey()
        now = self.clock()
        fingerprint = hashlib.sha256(presented.encode("ascii")).digest()
        cached = self._verified.get(fingerprint)
        if cached is not None:
            deadline, verified_at, client, principal = cached
            # Both clocks bound the reuse: the monotonic one against wall-clock jumps, the
            # service clock so that time moved on (in tests too) ends it as well.
            fresh = deadline > self._monotonic() and (now - verified_at).total_seconds() < (
                self.verified_cache_seconds
            )
            if fresh and client.state_at(now) == ACTIVE:
                return principal
            self._forget_verified(client.id)  # stale, or expired meanwhile: the database decides
        params = {"id": key.public_id, "now": now}
        if self._direct_key_row is not None:
            row = self._direct_key_row.first(params)
        else:
            with session_scope(self._read_sessions) as session:
                row = session.execute(self._key_row, params).first()
        if row is None:
            raise InvalidApiKey()
        # Every uncached check needs it: from the data-key cache while it is there, and only read
        # (the session may be read-only). A client row without it was not made here.
        hmac_key = self._keyring.held_system_key(HMAC_KEY_NAME)
        if hmac_key is None:
            with session_scope(self._read_sessions) as session:
                hmac_key = self._keyring.stored_system_key(session, HMAC_KEY_NAME)
        if hmac_key is None:
            log.error("API client %s exists but the API-key HMAC key does not: key refused", key.public_id)
            raise InvalidApiKey()
        if not constant_time_equal(self._digest(hmac_key, key), row.key_hash):
            raise InvalidApiKey()
        client = _client(row)
        state = client.state_at(now)
        if state == REVOKED:
            raise ApiKeyRevoked()
        if state != ACTIVE:
            raise ApiKeyExpired()
        # Four eyes on data access: read with the row, so a revoked grant stops the key on the
        # next request (within the verified cache's seconds, if it is on).
        if client.needs_approval and not row.approved:
            raise ClientPendingApproval()
        if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
            with session_scope(self._session_factory) as session:
                session.execute(t.update().where(t.c.id == client.id).values(last_used_at=now))
        principal = client.principal()
        self._remember_verified(fingerprint, now, client, principal)
        return principal

    def _remember_verified(
        self, fingerprint: bytes, now: dt.datetime, client: Client, principal: Principal
    ) -> None:
        if self.verified_cache_seconds <= 0:
            return
        deadline = self._monotonic() + self.verified_cache_seconds
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_MAX:
                self._verified.clear()
            self._verified[fingerprint] = (deadline, now, client, principal)

    def _forget_verified(self, client_id: str) -> None:
        with self._verified_lock:
            for fingerprint in [f for f, entry in self._verified.items() if entry[2].id == client_id]:
                del self._verified[fingerprint]
