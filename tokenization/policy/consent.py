"""The consent check: one function the policy decision point asks, per subject and purpose.

Consent records (granted / withdrawn / expired, with notice version, channel and
evidence) live in :mod:`consent`; the verdict is derived from the latest record
of (subject, purpose) on every call, in the caller's transaction - no cache, so
a withdrawal holds from the very next request. Purposes whose legal basis is
not consent (contract, legal obligation) never ask.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

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


def consent_check(session: Session, subject_id: str | None, purpose: str, field_type: str) -> ConsentVerdict:
    """Has ``subject_id`` consented to ``purpose`` for values of ``field_type``?

    Asks :func:`consent.check.check` at the current time (the container wires
    the consent service's own check, with its clock, in place of this one).
    Reasons when not: "no consent", "withdrawn", "expired", "reconsent required".
    ``subject_id`` is None for standalone tokens: nobody can have consented.
    Runs inside the caller's transaction; raises SQLAlchemy errors of its session.
    """
    from consent.check import check  # consent imports this module: import it late
    from piivault.db import utcnow

    return check(session, subject_id, purpose, utcnow())
