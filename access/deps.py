"""What the access use cases are given: :class:`AccessDeps`, the limits, and the hook run when
an action is approved.

:class:`access.service.AccessService` makes an :class:`AccessDeps` for each call from what it
holds now (tests replace its rules and clock), so the use-case
modules (:mod:`access.requests`, :mod:`access.grants`, :mod:`access.break_glass`) read
nothing but their arguments.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Collection, Mapping

from sqlalchemy.orm import Session, sessionmaker

from access import model as m
from access.rules import ApprovalRules
from piivault.db import UnitOfWork

# Run inside the approving unit of work when a request of an action is approved, before its
# grant is made (``purpose.widen`` applies the approved change); what it raises undoes the approval.
OnApproved = Callable[[UnitOfWork, m.ApprovalRequest, m.Acting, dt.datetime], None]


@dataclasses.dataclass(frozen=True)
class AccessLimits:
    request_hours: int = 72  # how long a request waits for approvals
    max_grant_minutes: int = 8 * 60  # the longest grant an approval gives (client access aside)
    break_glass_max_minutes: int = 60


@dataclasses.dataclass(frozen=True)
class AccessDeps:
    """The collaborators and settings of one access use case.

    ``looks_like_identifier`` is the vault's check (mobile, resident ID, card, credit code)
    that free text and ids must pass; ``purposes`` (anything supporting ``in``), when given,
    is the catalogue a reveal's purpose must be in; ``alert`` is called after a break-glass
    grant commits; ``on_approved`` maps an action to what its approval applies.
    """

    uow: Callable[[], UnitOfWork]
    session_factory: sessionmaker[Session]
    rules: ApprovalRules
    limits: AccessLimits
    clock: Callable[[], dt.datetime]
    looks_like_identifier: Callable[[str], bool]
    purposes: Collection[str] | None
    on_approved: Mapping[str, OnApproved]
    alert: Callable[[m.Grant], None]
