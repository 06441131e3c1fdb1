"""The consent check: one function the policy decision point asks, per subject and purpose.

Consent records (granted / withdrawn / expired, with notice version, channel and
evidence) live in :mod:`consent`; the verdict is derived from the latest record
of (subject, purpose) on every call, in the caller's transaction - no cache, so
a withdrawal holds from the very next request. Purposes whose legal basis is
not consent (contract, legal obligation) never ask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session


@dataclasses.dataclass(frozen=True)
class ConsentVerdict:
    """Whether the subject consented to the purpose, and separately (PIPL art. 23, 29)."""

    granted: bool
    separate: bool = False  # a separate consent covers this field type / sharing as well
    reason: str = "no consent"


NO_CONSENT = ConsentVerdict(granted=False, separate=False, reason="no consent")


class ConsentCheck(Protocol):
    def __call__(
        self, session: Session, subject_id: str | None, purpose: str, field_type: str
    ) -> ConsentVerdict: ...


def no_consent_service(
    session: Session, subject_id: str | None, purpose: str, field_type: str
) -> ConsentVerdict:
    """Without the consent service, nobody has consented (fail closed).

    The composition root passes the consent service's own check
    (:meth:`consent.service.ConsentService.check`, :func:`consent.check.check` at its
    clock): consent records are consent's, and tokenization never reads them itself.
    """
    return NO_CONSENT


@dataclasses.dataclass(frozen=True)
class JoinedConsent:
    """The consent check as part of the query that loads the tokens: no round trip of its own.

    ``join`` adds what the lookup needs to a select whose rows have the
    subject column given to :class:`ConsentJoin`; ``columns`` are selected
    with the row; ``verdict`` turns their values into the verdict, the very
    one the check would have given in the same transaction.
    """

    columns: tuple[sa.ColumnElement[Any], ...]
    join: Callable[[sa.Select[Any]], sa.Select[Any]]
    verdict: Callable[[Sequence[Any]], ConsentVerdict]


class ConsentJoin(Protocol):
    def __call__(self, subject: sa.ColumnElement[Any], purpose: str) -> JoinedConsent: ...
