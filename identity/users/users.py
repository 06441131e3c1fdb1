"""Console users: create, list, disable, enable, reset passwords, preferences.

Every change is audited in its own transaction with the acting user (or the
operator at the CLI) as actor; disabling a user or resetting their password
ends their sessions in that same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from audit.events import AuditEvent
from identity.users import passwords
from identity.users import tables as t
from identity.users.errors import InvalidInput, UserExists, UserNotFound
from identity.users.model import LANGUAGES, ROLES
from piivault.db import UnitOfWork, utcnow
from piivault.errors import ConfigurationError
from piivault.sql import insert_ignore

USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
_u = t.users.c


@dataclasses.dataclass(frozen=True)
class ConsoleUser:
    username: str
    role: str
    language: str
    time_zone: str
    created_at: dt.datetime
    created_by: str
    password_changed_at: dt.datetime
    last_sign_in_at: dt.datetime | None
    disabled_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    @property
    def actor(self) -> str:
        """How this user appears in the audit log."""
        return actor_of(self.username)


def actor_of(username: str) -> str:
    return f"user:{username}"


def user_from(row: Any) -> ConsoleUser:
    return ConsoleUser(
        username=row.username,
        role=row.role,
        language=row.language,
        time_zone=row.time_zone,
        created_at=row.created_at,
        created_by=row.created_by,
        password_changed_at=row.password_changed_at,
        last_sign_in_at=row.last_sign_in_at,
        disabled_at=row.disabled_at,
    )


def normalize_username(raw: Any) -> str | None:
    """The username as stored (trimmed, lowercase), or None if it cannot be one."""
    if not isinstance(raw, str):
        return None
    name = raw.strip().lower()
    return name if USERNAME.fullmatch(name) else None


def check_username(raw: Any) -> str:
    """Raise :class:`InvalidInput` unless ``raw`` is a valid username; return it normalized."""
    name = normalize_username(raw)
    if name is None:
        raise InvalidInput(
            "the username must be 2-64 lowercase letters, digits, '.', '_' or '-', starting with a letter",
            key="error.username",
        )
    return name


def check_role(role: Any) -> str:
    if role not in ROLES:
        raise InvalidInput(f"the role must be one of: {', '.join(ROLES)}", key="error.role")
    return role


def check_time_zone(name: Any) -> str:
    """Raise :class:`InvalidInput` unless ``name`` is an IANA time zone this system knows."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith(("/", ".")):
        raise InvalidInput("unknown time zone", key="error.time_zone")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("unknown time zone", key="error.time_zone") from None
    return name


def check_language(language: Any) -> str:
    if language not in LANGUAGES:
        raise InvalidInput("the language must be zh or en", key="error.language")
    return language


def build_user_store(
    settings: Any, uow_factory: Callable[[], UnitOfWork], *, clock: Callable[[], dt.datetime] = utcnow
) -> UserStore:
    """The console's users as configured (``PIIVAULT_CONSOLE_TIME_ZONE``). Raises ConfigurationError."""
    try:
        zone = check_time_zone(settings.console_time_zone)
    except InvalidInput:
        raise ConfigurationError("PIIVAULT_CONSOLE_TIME_ZONE must be an IANA time zone") from None
    return UserStore(uow_factory, default_time_zone=zone, clock=clock)


class UserStore:
    """The console's users. ``uow_factory`` gives units of work whose audit events commit with them."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        default_time_zone: str,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._uow = uow_factory
        self.default_time_zone = default_time_zone
        self.clock = clock

    # -- reading --------------------------------------------------------------------
    @staticmethod
    def get_in(session: Session, username: str) -> ConsoleUser | None:
        row = session.execute(sa.select(t.users).where(_u.username == username)).first()
        return None if row is None else user_from(row)

    def _require(self, session: Session, username: str) -> ConsoleUser:
        user = self.get_in(session, username)
        if user is None:
            raise UserNotFound("no such console user")
        return user

    def get(self, username: str) -> ConsoleUser:
        """Raises UserNotFound, StorageUnavailable."""
        with self._uow() as uow:
            assert uow.session is not None
            return self._require(uow.session, username)

    def list_users(self) -> list[ConsoleUser]:
        """Every user, disabled ones included, by username. Raises StorageUnavailable."""
        with self._uow() as uow:
            assert uow.session is not None
            rows = uow.session.execute(sa.select(t.users).order_by(_u.username)).all()
        return [user_from(r) for r in rows]

    # -- changing -------------------------------------------------------------------
    def create(
        self,
        *,
        username: Any,
        role: Any,
        password: Any,
        actor: str,
        language: str = "zh",
        time_zone: str | None = None,
        request_id: str | None = None,
        in_transaction: Callable[[UnitOfWork, ConsoleUser], object] | None = None,
    ) -> ConsoleUser:
        """Create a user. Raises InvalidInput, UserExists, StorageUnavailable.

        ``in_transaction`` runs in the creating unit of work (a user in an approving
        role files its approval request, :mod:`access.identity`); what it raises undoes it.
        """
        name = check_username(username)
        check_role(role)
        check_language(language)
        zone = check_time_zone(time_zone or self.default_time_zone)
        passwords.check_new_password(password, username=name)
        password_hash = passwords.hash_password(password)  # slow: before the transaction
        now = self.clock()
        with self._uow() as uow:
            assert uow.session is not None
            inserted = insert_ignore(
                uow.session,
                t.users,
                {
                    "username": name,
                    "role": role,
                    "password_hash": password_hash,
                    "language": language,
                    "time_zone": zone,
                    "created_at": now,
                    "created_by": actor,
                    "password_changed_at": now,
                },
                ["username"],
            )
            if not inserted:
                raise UserExists("a console user with this username exists")
            uow.record(
                AuditEvent(
                    action="console.user_create",
                    actor=actor,
                    request_id=request_id,
                    details={"username": name, "role": role},
                )
            )
            user = self.get_in(uow.session, name)
            assert user is not None
            if in_transaction is not None:
                in_transaction(uow, user)
            uow.commit()
        return user

    def set_disabled(
        self, username: str, disabled: bool, *, actor: str, request_id: str | None = None
    ) -> ConsoleUser:
        """Disable (ending every session) or enable a user. Raises UserNotFound, StorageUnavailable."""
        now = self.clock()
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            self._require(session, username)
            if disabled:
                session.execute(
                    t.users.update()
                    .where(_u.username == username, _u.disabled_at.is_(None))
                    .values(disabled_at=now, disabled_by=actor)
                )
                ended = end_sessions(session, username, "disabled", now)
            else:
                session.execute(
                    t.users.update().where(_u.username == username).values(disabled_at=None, disabled_by=None)
                )
                ended = 0
            uow.record(
                AuditEvent(
                    action="console.user_disable" if disabled else "console.user_enable",
                    actor=actor,
                    request_id=request_id,
                    details={"username": username, "sessions_ended": ended},
                )
            )
            uow.commit()
            return self._require(session, username)

    def reset_password(
        self,
        username: str,
        password: Any,
        *,
        actor: str,
        request_id: str | None = None,
        in_transaction: Callable[[UnitOfWork, ConsoleUser], object] | None = None,
    ) -> None:
        """Set a new password and end the user's sessions.

        ``in_transaction`` runs in the same unit of work (:mod:`access.identity`).
        Raises InvalidInput, UserNotFound, StorageUnavailable.
        """
        passwords.check_new_password(password, username=username)
        password_hash = passwords.hash_password(password)
        self._store_password(
            username, password_hash, actor, "console.password_reset", request_id, in_transaction
        )

    def change_own_password(
        self, username: str, current: Any, new: Any, *, request_id: str | None = None
    ) -> None:
        """A user changes their own password, proving the current one; their sessions end.

        Raises InvalidInput (wrong current password, rules), UserNotFound, StorageUnavailable.
        """
        user_hash = self._password_hash(username)
        if not passwords.verify_password(user_hash, current if isinstance(current, str) else ""):
            raise InvalidInput("the current password is wrong", key="error.current_password")
        passwords.check_new_password(new, username=username)
        self._store_password(
            username, passwords.hash_password(new), actor_of(username), "console.password_change", request_id
        )

    def set_preferences(
        self,
        username: str,
        *,
        language: str | None = None,
        time_zone: str | None = None,
        request_id: str | None = None,
    ) -> ConsoleUser:
        """Change the user's language and/or time zone.

        Raises InvalidInput, UserNotFound, StorageUnavailable.
        """
        values: dict[str, str] = {}
        if language is not None:
            values["language"] = check_language(language)
        if time_zone is not None:
            values["time_zone"] = check_time_zone(time_zone)
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            user = self._require(session, username)
            changed = {k: v for k, v in values.items() if getattr(user, k) != v}
            if changed:
                session.execute(t.users.update().where(_u.username == username).values(**changed))
                uow.record(
                    AuditEvent(
                        action="console.preferences",
                        actor=actor_of(username),
                        request_id=request_id,
                        details=changed,
                    )
                )
                uow.commit()
            return self._require(session, username)

    # -- helpers --------------------------------------------------------------------
    def _password_hash(self, username: str) -> str | None:
        with self._uow() as uow:
            assert uow.session is not None
            return uow.session.scalar(sa.select(_u.password_hash).where(_u.username == username))

    def _store_password(
        self,
        username: str,
        password_hash: str,
        actor: str,
        action: str,
        request_id: str | None,
        in_transaction: Callable[[UnitOfWork, ConsoleUser], object] | None = None,
    ) -> None:
        now = self.clock()
        with self._uow() as uow:
            session = uow.session
            assert session is not None
            done = session.execute(
                t.users.update()
                .where(_u.username == username)
                .values(password_hash=password_hash, password_changed_at=now)
            )
            if not done.rowcount:
                raise UserNotFound("no such console user")
            ended = end_sessions(session, username, "password_changed", now)
            uow.record(
                AuditEvent(
                    action=action,
                    actor=actor,
                    request_id=request_id,
                    details={"username": username, "sessions_ended": ended},
                )
            )
            if in_transaction is not None:
                in_transaction(uow, self._require(session, username))
            uow.commit()


def end_sessions(session: Session, username: str, reason: str, now: dt.datetime) -> int:
    """End every open session of ``username`` (in the caller's transaction); return how many."""
    s = t.sessions.c
    result = session.execute(
        t.sessions.update()
        .where(s.username == username, s.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
    )
    return int(result.rowcount or 0)
