"""What every consent use case checks before it acts, in one place.

The actor's role, a purpose on the caller's key, a note's length, four eyes on
an action (:class:`access.gate.FourEyes`), and the session of a unit of work
with the purpose catalogue seeded. Nothing here reads or writes a subject's data.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from piivault.db import UnitOfWork
from piivault.errors import ConfigurationError
from privacy import model as m
from privacy.catalogue import LivePurposeCatalogue
from privacy.errors import InvalidConsent, NotAllowed


def begin(catalogue: LivePurposeCatalogue, uow: UnitOfWork) -> Session:
    """The session of ``uow``, with the purpose catalogue seeded first."""
    # Seeding writes in its own transaction: do it before this one begins.
    catalogue.ensure_seeded()
    assert uow.session is not None
    return uow.session


def require_role(actor: m.Actor, roles: tuple[str, ...], what: str) -> None:
    if actor.role not in roles:
        raise NotAllowed(f"role {actor.role!r} may not {what}")


def require_purpose(actor: m.Actor, purpose: str, what: str) -> None:
    """A calling system records consent only for a purpose on its own key: a client that could
    grant another purpose's consent would unlock other clients' use of the data."""
    if not actor.acts_for(purpose):
        raise NotAllowed(f"this client may not {what} for a purpose it does not hold")


def check_note(note: Any) -> str | None:
    """``note`` if it is None or a string of at most :data:`privacy.model.MAX_NOTE` characters."""
    if note is not None and (not isinstance(note, str) or len(note) > m.MAX_NOTE):
        raise InvalidConsent(f"note must be at most {m.MAX_NOTE} characters")
    return note


def four_eyes_gate(gate: Any, action: str) -> Any:
    """The approval gate (:class:`access.gate.FourEyes`); ConfigurationError when none is wired
    (fail closed)."""
    if gate is None:
        raise ConfigurationError(f"{action} needs four eyes, and no approval gate is wired")
    return gate


def require_four_eyes(
    gate: Any,
    session: Session,
    actor: m.Actor,
    action: str,
    target: str,
    request_id: str | None,
    *,
    lock: bool = False,
) -> dict[str, Any]:
    """Refuse ``action`` on ``target`` (a DSR id) without a grant another person approved
    (``gate``: :class:`access.gate.FourEyes`); the audit details naming the grant and its
    approvers. ``lock``: the grant stays unrevoked until ``session``'s transaction ends.

    Raises ApprovalRequired (the request is filed or found and named), NoPerson,
    ConfigurationError when no gate is wired (fail closed).
    """
    from access.gate import granted_details
    from access.model import Acting

    grant = four_eyes_gate(gate, action).require(
        session,
        Acting(actor.person, actor.role, actor.name),
        action,
        target,
        request_id=request_id,
        lock=lock,
    )
    return granted_details(grant)
