"""The budget of ``not_found``/``denied`` answers per caller and window, against enumeration.

A caller guessing tokens (a card's token from its mask) or values (a mobile
from its mask) learns from each ``not_found``: a detokenize batch answered
1,000 guesses at once. Each API client and each console user may receive at
most ``limit`` such answers within ``window`` (every item of a batch counts).
A request that would go past it is refused as a whole with
:class:`AnswerBudgetExhausted` (429, Retry-After), before any of its answers is
released or its decisions committed, and every request of that caller is then
refused until the lock ends: so a refusal tells nothing about the guesses in it.

Tripping the budget is audited once (``throttle.answer_budget``: the caller,
the window, the limit; no token or value) and counted in
:func:`refusal_counts`, the hook for an operator's alert (a Prometheus
exporter can read it); refused requests after that are counted there and
logged, not audited, so a caller cannot fill the audit log with refusals.

Counters are :mod:`throttle.counters` rows keyed by SHA-256 of the caller's
audit actor, shared by every worker.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import logging
import math
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from audit.events import AuditEvent
from piivault import counting
from piivault.db import UnitOfWork, session_scope, utcnow
from piivault.errors import TooManyRequests
from throttle import counters

log = logging.getLogger(__name__)

EXHAUSTED = "answer_budget_exhausted"  # the budget tripped (audited)
REFUSED = "answer_budget_refused"  # a request refused while locked
_counts: collections.Counter[str] = collections.Counter()
_counts_lock = threading.Lock()


def _count(name: str) -> None:
    with _counts_lock:
        _counts[name] += 1
    metrics = counting.metrics()
    if metrics is not None:
        metrics.ANSWER_BUDGET.labels(event="exhausted" if name == EXHAUSTED else "refused").inc()


def refusal_counts() -> dict[str, int]:
    """Totals since the process started: ``answer_budget_exhausted`` (budgets tripped) and
    ``answer_budget_refused`` (requests refused). Alert on either rising."""
    with _counts_lock:
        return {EXHAUSTED: _counts[EXHAUSTED], REFUSED: _counts[REFUSED]}


class AnswerBudgetExhausted(TooManyRequests):
    """Too many not_found or denied answers for this caller; retry later."""

    code = EXHAUSTED


class AnswerBudget:
    """``limit`` not_found/denied answers per caller within ``window``; ``limit`` 0 disables it."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        limit: int,
        window: dt.timedelta,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._session_factory = session_factory
        self.limit = limit
        self.window = window
        # Locked once a count *exceeds* the limit: ``limit`` answers are allowed.
        self._policy = counters.Policy(limit + 1, window, window)
        self.clock = clock

    @staticmethod
    def _key(who: str) -> str:
        return hashlib.sha256(f"answers:{who}".encode()).hexdigest()

    def _refuse(self, who: str, until: dt.datetime) -> AnswerBudgetExhausted:
        _count(REFUSED)
        log.warning("request refused: %s is over its not_found/denied answer budget", who)
        return AnswerBudgetExhausted(math.ceil((until - self.clock()).total_seconds()))

    def check(self, session: Session, who: str) -> None:
        """Raise :class:`AnswerBudgetExhausted` if ``who`` is locked (a read in ``session``)."""
        if not self.limit:
            return
        until = counters.locked_until(session, self._key(who), self.clock())
        if until is not None:
            raise self._refuse(who, until)

    # The same check riding along a query the request makes anyway: a lock-out must refuse
    # every request, and one query fewer is a round trip fewer on each (issue 22).
    LOCK_PARAM = "answer_budget_key"

    @staticmethod
    def lock_column() -> sa.ScalarSelect[dt.datetime]:
        """A column for a query of the caller's: the lock's end, bound by :meth:`lock_params`."""
        return counters.locked_until_column(AnswerBudget.LOCK_PARAM)

    def lock_params(self, who: str) -> dict[str, str]:
        return {self.LOCK_PARAM: self._key(who)}

    def check_read(self, who: str, until: dt.datetime | None) -> None:
        """:meth:`check` on a value :meth:`lock_column` read: raise if it is a lock not yet over."""
        if self.limit and until is not None and until > self.clock():
            raise self._refuse(who, until)

    def spend(self, uow: UnitOfWork, who: str, answers: int, *, request_id: str | None = None) -> None:
        """Count ``answers`` not_found/denied answers about to be given to ``who``.

        Call it before recording the request's own audit events. Past the budget
        it records the lock's audit event, commits ``uow`` and raises
        :class:`AnswerBudgetExhausted`: the request's answers are never given.
        The counter is written in ``uow``'s transaction, or in one of its own when
        ``uow`` is read-only (a grouped detokenize on PostgreSQL).
        """
        if not self.limit or answers <= 0:
            return
        key, now = self._key(who), self.clock()
        if uow.read_only:
            with session_scope(self._session_factory) as session:
                was = counters.locked_until(session, key, now)
                locked = counters.fail(session, key, self._policy, now, count=answers)
        else:
            assert uow.session is not None
            was = counters.locked_until(uow.session, key, now)
            locked = counters.fail(uow.session, key, self._policy, now, count=answers)
        if not locked:
            return
        if was is not None:
            raise self._refuse(who, was)
        _count(EXHAUSTED)
        uow.record(
            AuditEvent(
                action="throttle.answer_budget",
                actor=who,
                outcome="denied",
                reason=EXHAUSTED,
                request_id=request_id,
                details={
                    "limit": self.limit,
                    "window_seconds": int(self.window.total_seconds()),
                    "answers_in_request": answers,
                },
            )
        )
        uow.commit()
        raise self._refuse(who, now + self.window)
