"""Errors of separation of duties. Messages name codes, ids and roles, never a value."""

from __future__ import annotations

from piivault.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ApprovalNotFound(NotFound):
    """No such approval request."""

    code = "approval_not_found"


class GrantNotFound(NotFound):
    """No such grant."""

    code = "grant_not_found"


class NoPerson(Forbidden):
    """This credential names no person: approvals need one (a console user, or a client naming one)."""

    code = "no_person"


class SelfApproval(Forbidden):
    """The requester of an approval request can never approve (or deny) it."""

    code = "self_approval"


class SameCredential(Forbidden):
    """One credential gives one approval of a request, whatever person it names."""

    code = "same_credential"


class NotApprover(Forbidden):
    """This role may not approve this action."""

    code = "not_approver"


class NotRequester(Forbidden):
    """Only the person who asked may withdraw a request."""

    code = "not_requester"


class RequesterRole(Forbidden):
    """This role may not ask for this action."""

    code = "requester_role"


class AlreadyDecided(Conflict):
    """The approval request is no longer pending."""

    code = "approval_decided"


class AlreadyApproved(Conflict):
    """This person has already approved the request."""

    code = "already_approved"


class GrantInactive(Conflict):
    """The grant is already revoked or expired."""

    code = "grant_inactive"


class AlreadyReviewed(Conflict):
    """The break-glass use has already been reviewed."""

    code = "already_reviewed"


class InvalidScope(ValidationFailed):
    """The scope of the request breaks a rule."""

    code = "invalid_scope"


class ApprovalRequired(Forbidden):
    """This needs an approved request (four eyes) first."""

    code = "approval_required"

    def __init__(self, message: str | None = None, *, approval_id: str | None = None) -> None:
        super().__init__(message)
        self.approval_id = approval_id

    def problem_fields(self) -> dict[str, str | None]:
        """Named in the problem document: the request another person must approve."""
        return {"approval_id": self.approval_id}
