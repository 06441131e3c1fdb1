"""Erase a subject in a test the way production does: :func:`consent.erasure.erase`, the one
erasure use case (a data-subject request's, the scheduled shred's), here without a request."""

from __future__ import annotations

from typing import Any

from consent import erasure


def erase_subject(container: Any, subject_id: str, *, actor: str = "dpo:test") -> dict[str, Any]:
    """Erase ``subject_id`` now (restricted instead if a hold applies); returns the outcome."""
    with container.uow() as uow:
        consent = container.consent
        outcome = erasure.erase(
            consent.erasure_deps, uow.session, uow, subject_id, dsr_id=None, actor=actor, now=consent.clock()
        )
        uow.commit()
    return outcome
