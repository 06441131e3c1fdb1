"""The console's service: the read models its pages need, over the container's users and sessions.

The queries are their tables' owners' (:mod:`consent.counts`, :mod:`audit.activity`,
:mod:`tokenization.subject_tokens`); the console composes them and imports no ``tables`` module
(import-linter's ``console-no-tables`` contract).

Holds no Flask and no state (:func:`console_service` makes one). The domain services
(consent, tokenization, audit, access) are the container's typed fields, reached by the
views as the API's views reach them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import exc
from sqlalchemy.orm import Session

from audit import activity
from audit.events import AuditEvent
from consent import counts
from consent.erasure import ErasurePreview
from identity.users.users import ConsoleUser
from piivault.db import is_unavailable
from piivault.errors import StorageUnavailable
from tokenization import subject_tokens

DUE_SOON = dt.timedelta(days=3)
CHART_DAYS = 30


@dataclasses.dataclass(frozen=True)
class ConsoleCaller:
    """A console user as the tokenization service's caller (``tokenization.model.Caller``).

    A DPO's key binds no purposes or field types (see the policy decision
    point); the audit actor is the user, ``user:<name>``.
    """

    username: str
    role: str
    purposes: frozenset[str] = frozenset()
    field_types: frozenset[str] | None = None

    @property
    def client_id(self) -> str:
        return f"console-{self.username}"

    @property
    def actor(self) -> str:
        return f"user:{self.username}"

    @property
    def person(self) -> str:
        """A console user is the person of their name (access counts persons)."""
        return self.username


@dataclasses.dataclass(frozen=True)
class Overview:
    dsr: counts.DsrCounts
    consents: counts.ConsentSeries
    extracts: list[activity.LoggedEvent]
    queued_events: int


class ConsoleService:
    """The console's read models over the container's services; the users and sessions are the
    container's (:mod:`identity.users`). Holds no state of its own: make one wherever needed."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.users = container.users
        self.sessions = container.sessions

    @property
    def clock(self) -> Callable[[], dt.datetime]:
        return self.users.clock

    @clock.setter
    def clock(self, clock: Callable[[], dt.datetime]) -> None:
        """Tests move time for every part at once."""
        self.users.clock = self.sessions.clock = clock

    def _clock(self) -> dt.datetime:
        return self.users.clock()

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        session = self._container.session_factory()
        try:
            yield session
        except exc.SQLAlchemyError as e:
            if is_unavailable(e):
                raise StorageUnavailable("database unavailable") from None
            raise
        finally:
            session.rollback()
            session.close()

    # -- dashboard ------------------------------------------------------------------------
    def overview(self, user: ConsoleUser) -> Overview:
        """Counts for the dashboard, days in the user's time zone. Raises StorageUnavailable."""
        now = self._clock()
        with self._read() as session:
            return Overview(
                dsr=counts.dsr_counts(session, now, DUE_SOON),
                consents=counts.consent_series(session, now, user.time_zone, CHART_DAYS),
                extracts=activity.recent_events(session, "extract", 8),
                queued_events=activity.queued_events(session),
            )

    def overview_queue(self) -> int:
        """Audit events committed but not yet sequenced. Raises StorageUnavailable."""
        with self._read() as session:
            return activity.queued_events(session)

    # -- subjects -------------------------------------------------------------------------
    def find_by_token(self, user: ConsoleUser, token: str, *, request_id: str | None = None) -> str | None:
        """The subject of a token; the finding is audited (``subject.find``).

        A token not found counts towards the user's answer budget. Raises
        AnswerBudgetExhausted (429) past it, and StorageUnavailable.
        """
        budget = self._container.tokenization.answer_budget
        with self._container.uow() as uow:
            assert uow.session is not None
            if budget is not None:
                budget.check(uow.session, user.actor)
            subject_id = subject_tokens.of_token(uow.session, token)
            if subject_id is None and budget is not None:
                budget.spend(uow, user.actor, 1, request_id=request_id)
            uow.record(
                AuditEvent(
                    action="subject.find",
                    actor=user.actor,
                    outcome="success" if subject_id else "denied",
                    reason=None if subject_id else "no such token",
                    subject_id=subject_id,
                    request_id=request_id,
                    details={"by": "token"},
                )
            )
            uow.commit()
        return subject_id

    def found_by_value(
        self, user: ConsoleUser, subject_ids: list[str], field_type: str, *, request_id: str | None = None
    ) -> None:
        """Audit a search by value (``subject.find``) in each subject's name, so it is in their
        access log; the value itself is never recorded. Raises StorageUnavailable."""
        with self._container.uow() as uow:
            for subject_id in subject_ids:
                uow.record(
                    AuditEvent(
                        action="subject.find",
                        actor=user.actor,
                        subject_id=subject_id,
                        field_types=(field_type,),
                        request_id=request_id,
                        details={"by": "value", "subjects_found": len(subject_ids)},
                    )
                )
            uow.commit()

    def tokens_of(self, subject_id: str) -> list[tuple[str, str]]:
        """(token, field type) of a subject's tokens. Raises StorageUnavailable."""
        with self._read() as session:
            return subject_tokens.tokens_of(session, subject_id)

    def erasure_preview(self, subject_id: str) -> ErasurePreview:
        """What an erasure of the subject would do now, on the console's clock: consent's
        :meth:`~consent.service.ConsentService.erasure_preview`. Raises StorageUnavailable."""
        return self._container.consent.erasure_preview(subject_id, self._clock())


def console_service(container: Any) -> ConsoleService:
    """The console's service over the container's users, sessions and domain services."""
    return ConsoleService(container)
