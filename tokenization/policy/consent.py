"""The consent check: one function the policy decision point asks, per subject and purpose.

Consent records (granted / withdrawn / expired, with notice version, channel and
evidence) arrive with the consent work, which replaces the body of
:func:`consent_check` and nothing else. Until then there is no consent to
consult, so the answer is always "no consent": a purpose that requires consent
is **denied** - the specified behaviour, not a placeholder that allows. Purposes
whose legal basis is not consent (contract, legal obligation) never ask.
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

    ``subject_id`` is None for standalone tokens: nobody can have consented.
    Runs inside the caller's transaction; raises StorageUnavailable once it reads.
    """
    return NO_CONSENT
