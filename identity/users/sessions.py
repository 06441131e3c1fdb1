"""Signing in and out of the console, and resolving a session cookie to its user.

A session id is 32 random bytes (the cookie holds them base64url-encoded);
only their SHA-256 is stored, so the table cannot be replayed. A session ends
after ``idle`` without a request, ``lifetime`` after sign-in, at sign-out, or
when its user is disabled or their password changes. Each session has its own
CSRF token for the forms it renders.

Sign-in answers every failure the same way (:class:`SignInFailed`), whatever
the reason; the reason goes to the audit log, with the user as actor when the
username exists (else ``console:unknown``: a mistyped username may be a
password or a phone number and must not be logged).

:meth:`SessionStore.verify` is the same check without a session: the command
line proves the console user who approves, denies, revokes or reviews there
(:mod:`access.cli`) by their password, under the same lock-out and audit.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from identity.users import lockout, passwords
from identity.users import tables as t
from identity.users.errors import SignInFailed
from identity.users.users import ConsoleUser, normalize_username, user_from
from piivault import ids
from piivault.db import UnitOfWork, utcnow
from vault import Keyring

UNKNOWN_ACTOR = "console:unknown"
# last_seen_at is written at most this often: a page view stays a read.
TOUCH_RESOLUTION = dt.timedelta(seconds=30)
_s, _u = t.sessions.c, t.users.c


@dataclasses.dataclass(frozen=True)
class ConsoleSession:
    id_hash: bytes
    username: str
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class SignedIn:
    """The signed-in user of a request and their session."""

    user: ConsoleUser
    session: ConsoleSession

    @property
    def actor(self) -> str:
        return self.user.actor

    @property
    def role(self) -> str:
        return self.user.role


@dataclasses.dataclass(frozen=True)
class NewSession:
    """What sign-in returns: the cookie value (shown once) and the session it opens."""

    cookie_value: str
    signed_in: SignedIn


def _hash(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def _decode(cookie_value: str) -> bytes | None:
    if not isinstance(cookie_value, str) or len(cookie_value) != 43:
        return None
    try:
        raw = base64.urlsafe_b64decode(cookie_value + "=")
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


class SessionStore:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        keyring: Keyring,
        *,
        idle: dt.timedelta,
        lifetime: dt.timedelta,
        user_policy: lockout.Policy,
        address_policy: lockout.Policy,
        clock: Callable[[], dt.datetime],
        approved: Callable[[Session, str, dt.datetime], bool] | None = None,
    ) -> None:
        # May this user act (an approving identity needs its approval, access.identity)?
        self.approved = approved or (lambda session, username, now: True)
        self._uow = uow_factory
        self._keyring = keyring
        self.idle = idle
        self.lifetime = lifetime
        self.user_policy = user_policy
        self.address_policy = address_policy
        self.clock = clock

    # -- sign-in ----------------------------------------------------------------------
    def sign_in(
        self, username: Any, password: Any, *, address: str, request_id: str | None = None
    ) -> NewSession:
        """Check the password and open a session.

        Raises :class:`SignInFailed` (reason: unknown_user, wrong_password,
        disabled, locked, address_locked, pending_approval; the failure is
        audited and counted towards the lock-out) and StorageUnavailable.
        """
        user, stored_hash, user_key = self._check(username, password, address, request_id)
        raw = ids.random_bytes(32)
        user, opened = self._signed_in(user, stored_hash, password, user_key, request_id, session_id=raw)
        assert opened is not None
        cookie = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        return NewSession(cookie, SignedIn(user, opened))

    def verify(
        self,
        username: Any,
        password: Any,
        *,
        address: str,
        via: str,
        role: str | None = None,
        request_id: str | None = None,
    ) -> ConsoleUser:
        """Prove a console user by their password without opening a session: the command line's
        deciding commands (``piivault approvals approve``...) act as the user this way.

        The same check, lock-out and audit as :meth:`sign_in` (``console.sign_in``, its
        details saying ``via``, e.g. ``cli:<login>``); ``role``, when given, must be the
        user's (reason wrong_role otherwise). Raises :class:`SignInFailed`, StorageUnavailable.
        """
        user, stored_hash, user_key = self._check(username, password, address, request_id, role=role, via=via)
        return self._signed_in(user, stored_hash, password, user_key, request_id, via=via)[0]

    def _check(
        self,
        username: Any,
        password: Any,
        address: str,
        request_id: str | None,
        *,
        role: str | None = None,
        via: str | None = None,
    ) -> tuple[ConsoleUser, str, str | None]:
        """The user, their stored hash and lock-out key when the password is right and nothing
        else forbids it; else the failure is audited and counted, and SignInFailed raised."""
        name = normalize_username(username)
        password = password if isinstance(password, str) else ""
        now = self.clock()
        with self._uow() as uow:  # read, and end the transaction before the slow hash
            session = uow.session
            assert session is not None
            user_key, address_key = lockout.keys(session, self._keyring, name, address)
            row = session.execute(sa.select(t.users).where(_u.username == name)).first() if name else None
            locked = lockout.locked_until(session, address_key, now) is not None
            user_locked = user_key is not None and lockout.locked_until(session, user_key, now) is not None
            approved = row is None or self.approved(session, row.username, now)
            uow.commit()  # the lock-out key, if this was its first use
        user = None if row is None else user_from(row)
        # The hash is checked whatever else failed, so every failure takes as long.
        matches = passwords.verify_password(None if row is None else row.password_hash, password)
        if locked:
            reason = "address_locked"
        elif user is None:
            reason = "unknown_user"
        elif user_locked:
            reason = "locked"
        elif not user.active:
            reason = "disabled"
        elif not matches:
            reason = "wrong_password"
        elif not approved:
            reason = "pending_approval"  # an approving role, not (or no longer) approved
        elif role is not None and user.role != role:
            reason = "wrong_role"
        else:
            return user, row.password_hash, user_key
        self._failed(user, reason, address_key, user_key, request_id, via)
        raise SignInFailed(reason)

    def _failed(
        self,
        user: ConsoleUser | None,
        reason: str,
        address_key: str,
        user_key: str | None,
        request_id: str | None,
        via: str | None,
    ) -> None:
        now = self.clock()
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            policies = (self.user_policy, self.address_policy)
            lockout.forget_stale(session, now, max(p.window + p.lock_for for p in policies))
            locks = {"address": lockout.fail(session, address_key, self.address_policy, now)}
            if user_key is not None:
                locks["user"] = lockout.fail(session, user_key, self.user_policy, now)
            uow.record(
                AuditEvent(
                    action="console.sign_in",
                    actor=UNKNOWN_ACTOR if user is None else user.actor,
                    outcome="denied",
                    reason=reason,
                    request_id=request_id,
                    details={"locked": sorted(k for k, v in locks.items() if v), **_via(via)},
                )
            )
            uow.commit()

    def _signed_in(
        self,
        user: ConsoleUser,
        stored_hash: str,
        password: str,
        user_key: str | None,
        request_id: str | None,
        *,
        session_id: bytes | None = None,
        via: str | None = None,
    ) -> tuple[ConsoleUser, ConsoleSession | None]:
        """A successful sign-in: the lock-out cleared, audited; a session opened for ``session_id``."""
        rehash = passwords.hash_password(password) if passwords.needs_rehash(stored_hash) else None
        now = self.clock()
        opened = None
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            # Parallel guesses may have locked the user while this one was being checked.
            if user_key is not None and lockout.locked_until(session, user_key, now) is not None:
                uow.record(
                    AuditEvent(
                        action="console.sign_in",
                        actor=user.actor,
                        outcome="denied",
                        reason="locked",
                        request_id=request_id,
                        details=_via(via),
                    )
                )
                uow.commit()
                raise SignInFailed("locked")
            if user_key is not None:
                lockout.clear(session, user_key)
            values: dict[str, Any] = {"last_sign_in_at": now}
            if rehash is not None:
                values["password_hash"] = rehash
            session.execute(t.users.update().where(_u.username == user.username).values(**values))
            if session_id is not None:
                opened = ConsoleSession(
                    id_hash=_hash(session_id),
                    username=user.username,
                    csrf_token=ids.urlsafe_token(32),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.lifetime,
                )
                session.execute(t.sessions.insert().values(**dataclasses.asdict(opened)))
            uow.record(
                AuditEvent(
                    action="console.sign_in",
                    actor=user.actor,
                    request_id=request_id,
                    details={"role": user.role, **_via(via)},
                )
            )
            uow.commit()
        return dataclasses.replace(user, last_sign_in_at=now), opened

    # -- every request ------------------------------------------------------------------
    def resolve(self, cookie_value: str | None) -> SignedIn | None:
        """The live session named by a cookie, or None (unknown, ended, idle, expired, user disabled).

        An idle or expired session is marked ended. Raises StorageUnavailable.
        """
        raw = _decode(cookie_value) if cookie_value else None
        if raw is None:
            return None
        id_hash = _hash(raw)
        now = self.clock()
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            row = session.execute(
                sa.select(t.sessions, *[c.label(f"u_{c.name}") for c in t.users.c])
                .join(t.users, _u.username == _s.username)
                .where(_s.id_hash == id_hash, _s.ended_at.is_(None))
            ).first()
            if row is None:
                return None
            ended = _why_over(row, now, self.idle)
            if ended is None and not self.approved(session, row.username, now):
                ended = "not_approved"  # its identity grant was revoked
            if ended is not None:
                session.execute(
                    t.sessions.update()
                    .where(_s.id_hash == id_hash, _s.ended_at.is_(None))
                    .values(ended_at=now, ended_reason=ended)
                )
                uow.commit()
                return None
            last_seen = row.last_seen_at
            if now - last_seen >= TOUCH_RESOLUTION:
                session.execute(t.sessions.update().where(_s.id_hash == id_hash).values(last_seen_at=now))
                uow.commit()
                last_seen = now
        user = user_from(_Prefixed(row, "u_"))
        return SignedIn(
            user,
            ConsoleSession(
                id_hash=id_hash,
                username=row.username,
                csrf_token=row.csrf_token,
                created_at=row.created_at,
                last_seen_at=last_seen,
                expires_at=row.expires_at,
            ),
        )

    def sign_out(self, signed_in: SignedIn, *, request_id: str | None = None) -> None:
        """End the session now; audited. Raises StorageUnavailable."""
        now = self.clock()
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            session.execute(
                t.sessions.update()
                .where(_s.id_hash == signed_in.session.id_hash, _s.ended_at.is_(None))
                .values(ended_at=now, ended_reason="signed_out")
            )
            uow.record(AuditEvent(action="console.sign_out", actor=signed_in.actor, request_id=request_id))
            uow.commit()


def _via(via: str | None) -> dict[str, str]:
    """An audit detail saying where a sign-in came from, when not the console's page."""
    return {} if via is None else {"via": via}


def _why_over(row: Any, now: dt.datetime, idle: dt.timedelta) -> str | None:
    if row.u_disabled_at is not None:
        return "disabled"
    if now >= row.expires_at:
        return "expired"
    if now - row.last_seen_at >= idle:
        return "idle"
    return None


class _Prefixed:
    """Attribute access to a joined row's ``u_``-prefixed user columns."""

    def __init__(self, row: Any, prefix: str) -> None:
        self._row, self._prefix = row, prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, self._prefix + name)


def build_session_store(
    settings: Any,
    uow_factory: Callable[[], UnitOfWork],
    keyring: Keyring,
    *,
    approved: Callable[[Session, str, dt.datetime], bool] | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> SessionStore:
    """Console sessions as configured: idle and absolute limits, lock-out per username and per
    address (``PIIVAULT_CONSOLE_*``); ``approved`` says whether an approving user may act."""
    window = dt.timedelta(seconds=settings.console_lockout_window)
    lock_for = dt.timedelta(seconds=settings.console_lockout_seconds)
    return SessionStore(
        uow_factory,
        keyring,
        idle=dt.timedelta(seconds=settings.console_idle_timeout),
        lifetime=dt.timedelta(seconds=settings.console_session_lifetime),
        user_policy=lockout.Policy(settings.console_lockout_failures, window, lock_for),
        address_policy=lockout.Policy(settings.console_address_failures, window, lock_for),
        clock=clock,
        approved=approved,
    )
