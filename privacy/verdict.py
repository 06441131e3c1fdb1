"""The consent verdict's types: what the policy decision point is told of a subject's consent.

Consent records (granted / withdrawn / expired, with notice version, channel and
evidence) are appended by :mod:`consent.consents`; the verdict
(:mod:`privacy.consent_check`) is derived from the latest record
of (subject, purpose) on every call, in the caller's transaction - no cache, so
a withdrawal holds from the very next request. Purposes whose legal basis is
not consent (contract, legal obligation) never ask.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa


@dataclasses.dataclass(frozen=True)
class ConsentVerdict:
    """Whether the subject consented to the purpose, and separately (PIPL art. 23, 29)."""

    granted: bool
    separate: bool = False  # a separate consent covers this field type / sharing as well
    reason: str = "no consent"


@dataclasses.dataclass(frozen=True)
class JoinedConsent:
    """The consent check as part of the query that loads the tokens: no round trip of its own.

    ``join`` adds what the lookup needs to a select whose rows have the
    subject column given to :func:`privacy.consent_check.joined`; ``columns`` are selected
    with the row; ``verdict`` turns their values into the verdict, the very
    one the check would have given in the same transaction.
    """

    columns: tuple[sa.ColumnElement[Any], ...]
    join: Callable[[sa.Select[Any]], sa.Select[Any]]
    verdict: Callable[[Sequence[Any]], ConsentVerdict]
