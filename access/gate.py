"""Four eyes on one object: DSR access packages, erasures and extract re-identification.

``dsr.package`` (download a data-subject access package, plain values in
it), ``dsr.erasure`` (complete an erasure request) and ``extract.reidentify``
(the subject behind a pseudonym of one extract) each need a live grant for
the object - the DSR id or the extract id - that another person approved.
The consent and extract services ask :meth:`FourEyes.require` inside their
own transaction, so the API, the console and the CLI honour it alike, and a
revoked or expired grant stops working on the next request.

Without a grant the first attempt *is* the request: the acting person's
pending request for the object is found, or one is filed as them, and the
attempt is refused with ``approval_required`` naming it; another person
with the approving role approves it (``/v1/approvals``, the console,
``piivault approvals approve``). A package and a re-identification show
values to the person acting, so only their own grant counts; an erasure
reveals nothing, so any approved grant for the request lets a DPO complete
it - the console's erasure review is the approval step
(:meth:`FourEyes.approve_pending`). A deployment with a count of 0 for the
action (``PIIVAULT_APPROVALS``) proceeds without, and says so at start-up.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.orm import Session

from access import errors
from access import model as m
from access.service import AccessService


@dataclasses.dataclass(frozen=True)
class Gate:
    holder_bound: bool  # only the acting person's own grant counts (they see values)
    reason_code: str
    reason_text: str  # the request filed on a first attempt (no identifier in it)


GATES = {
    m.DSR_PACKAGE: Gate(True, "data_subject_request", "access package of a data-subject request"),
    m.DSR_ERASURE: Gate(False, "data_subject_request", "erasure asked for in a data-subject request"),
    m.REIDENTIFY: Gate(True, "investigation", "re-identification of an extract pseudonym"),
}


class FourEyes:
    """The grant check of :data:`GATES`' actions, over an :class:`AccessService`."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    def require(
        self,
        session: Session,
        acting: m.Acting,
        action: str,
        target: str,
        *,
        request_id: str | None = None,
    ) -> m.Grant | None:
        """The grant letting ``acting`` do ``action`` on ``target``, read in ``session`` (the
        caller's transaction); None when four eyes is off for the action.

        Without one, ends the caller's transaction (rolled back: nothing of it
        is written), finds the pending request or files one as ``acting``, and
        raises ApprovalRequired naming it. Raises NoPerson (a credential naming
        nobody cannot take part in four eyes), RequesterRole, StorageUnavailable.
        """
        gate = GATES[action]
        if not self.access.rules[action].four_eyes:
            return None
        if not acting.person:
            raise errors.NoPerson(
                f"{action} needs four eyes: the key must name its person (a console user acts as themselves)"
            )
        holder = acting.person if gate.holder_bound else None
        grant = self.access.grant_for(session, action, target, holder=holder)
        if grant is not None:
            return grant
        session.rollback()  # a request of its own is filed next; SQLite writers would wait for us
        pending = self.pending(action, target, requester=holder)
        if pending is None:
            pending = self.access.request(
                acting,
                action,
                m.Scope(target=target),
                gate.reason_code,
                gate.reason_text,
                request_id=request_id,
            )
        roles = " or ".join(pending.approver_roles)
        raise errors.ApprovalRequired(
            f"{action} needs approval request {pending.id} approved by another person ({roles}) first",
            approval_id=pending.id,
        )

    def pending(self, action: str, target: str, *, requester: str | None = None) -> m.ApprovalRequest | None:
        """The newest pending request for ``action`` on ``target`` (by ``requester``, if given)."""
        found = self.access.list_requests(
            state=m.PENDING, action=action, target=target, requester=requester, limit=1
        )
        return found[0] if found else None

    def approve_pending(
        self, acting: m.Acting, action: str, target: str, *, request_id: str | None = None
    ) -> m.ApprovalRequest | None:
        """Approve, as ``acting``, the pending request for ``action`` on ``target`` when another
        person asked for it (the console's erasure review); None when there is none to approve.

        Raises what :meth:`AccessService.approve` raises (NotApprover, AlreadyApproved...).
        """
        if not self.access.rules[action].four_eyes:
            return None
        pending = self.pending(action, target)
        if pending is None or pending.requester == acting.person:
            return None
        return self.access.approve(acting, pending.id, request_id=request_id)


def granted_details(grant: m.Grant | None) -> dict[str, object]:
    """What an audit event of the gated act says about its approval: the grant, who holds it,
    who approved it (both persons are named), or that four eyes was off."""
    if grant is None:
        return {"four_eyes": False}
    return {
        "four_eyes": True,
        "grant_id": grant.id,
        "approval_id": grant.request_id,
        "holder": grant.holder,
        "approved_by": list(grant.approved_by),
    }
