"""Four eyes on one object: DSR access packages, erasures and extract re-identification.

``dsr.package`` (download a data-subject access package, plain values in
it), ``dsr.erasure`` (complete an erasure request) and ``extract.reidentify``
(the subject behind a pseudonym of one extract) each need a live grant for
the object - the DSR id or the extract id - that another person approved.
The consent and extract services ask :meth:`FourEyes.require` inside their
own transaction, so the API, the console and the CLI honour it alike, and a
revoked or expired grant stops working on the next request.

Without a grant the attempt is refused with ``approval_required``. For an
erasure or a re-identification (both asked for by a POST) the first attempt
*is* the request: the acting person's pending request for the object is
found, or one is filed as them, and named. Downloading a package is a GET,
which writes nothing: it names the pending request if there is one, else how
to ask for one (:meth:`FourEyes.ask`, ``POST /v1/dsr/{id}/package/approval``).
Another person with the approving role approves it (``/v1/approvals``, the
console, ``piivault approvals approve``). A package and a re-identification show
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
    reason_text: str  # the request filed (no identifier in it)
    # How to ask, when an attempt does not file the request itself (a read: a GET writes nothing);
    # None: the attempt files it. ``{target}`` is the object's id.
    how_to_ask: str | None = None


GATES = {
    m.DSR_PACKAGE: Gate(
        True,
        "data_subject_request",
        "access package of a data-subject request",
        how_to_ask="POST /v1/dsr/{target}/package/approval, or the request's page in the console",
    ),
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
        lock: bool = False,
    ) -> m.Grant | None:
        """The grant letting ``acting`` do ``action`` on ``target``, read in ``session`` (the
        caller's transaction); None when four eyes is off for the action. ``lock``: the grant
        cannot be revoked until that transaction ends (the last check before a release).

        Without one, ends the caller's transaction (rolled back: nothing of it is
        written) and raises ApprovalRequired: naming the pending request for it,
        or, for an action whose attempt files it (an erasure, a re-identification),
        the request filed now as ``acting``, or else saying how to ask
        (``approval_id`` None). Raises NoPerson (a credential naming nobody cannot
        take part in four eyes), RequesterRole, StorageUnavailable.
        """
        gate = GATES[action]
        if not self.access.rules[action].four_eyes:
            return None
        self._person(acting, action)
        holder = acting.person if gate.holder_bound else None
        grant = self.access.grant_for(session, action, target, holder=holder, lock=lock)
        if grant is not None:
            return grant
        # Refused: end the caller's transaction before our own reads and writes (SQLite's
        # transactions take the write lock, so ours would wait for it).
        session.rollback()
        if gate.how_to_ask is None:
            pending, _ = self.ask(acting, action, target, request_id=request_id)
        else:
            pending = self.pending(action, target, requester=holder)
        if pending is None:
            roles = " or ".join(self.access.rules[action].approvers)
            raise errors.ApprovalRequired(
                f"{action} needs a grant of your own, approved by another person ({roles}): ask for it "
                f"with {(gate.how_to_ask or '').format(target=target)}"
            )
        roles = " or ".join(pending.approver_roles)
        raise errors.ApprovalRequired(
            f"{action} needs approval request {pending.id} approved by another person ({roles}) first",
            approval_id=pending.id,
        )

    def ask(
        self, acting: m.Acting, action: str, target: str, *, request_id: str | None = None
    ) -> tuple[m.ApprovalRequest, bool]:
        """The approval request for ``acting`` to do ``action`` on ``target``: their pending one,
        or one filed now (already approved when four eyes is off for the action); and whether
        it was filed now. The caller has checked that ``target`` exists and may be acted on.

        Raises NoPerson, RequesterRole, StorageUnavailable.
        """
        gate = GATES[action]
        self._person(acting, action)
        pending = self.pending(action, target, requester=acting.person if gate.holder_bound else None)
        if pending is not None:
            return pending, False
        filed = self.access.request(
            acting, action, m.Scope(target=target), gate.reason_code, gate.reason_text, request_id=request_id
        )
        return filed, True

    @staticmethod
    def _person(acting: m.Acting, action: str) -> None:
        if not acting.person:
            raise errors.NoPerson(
                f"{action} needs four eyes: the key must name its person (a console user acts as themselves)"
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
