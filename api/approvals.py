"""``/v1/approvals``, ``/v1/grants``, ``/v1/break-glass``: separation of duties over HTTP.

HTTP only: every rule (who may ask, approve, revoke or review; four eyes;
identifiers in reasons) is :class:`access.AccessService`'s. A key acts for the
person it names (``person`` on the client); a key that names nobody may not ask
or approve.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from access import ACTIONS, REASON_CODES, AccessService, Acting, Scope
from access import model as m
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import Schema
from api.tokens import request_id

blp = Blueprint(
    "approvals",
    __name__,
    url_prefix="/v1",
    description="Approval requests (four eyes), grants and break-glass.",
)

# Every role that may ask for or approve something; the service decides the rest.
ROLES = ("admin", "dpo", "auditor")


def access() -> AccessService:
    return current_container().access


def acting() -> Acting:
    principal = current_principal()
    return Acting(principal.person, principal.role, principal.actor)


# -- schemas ---------------------------------------------------------------------
class ScopeSchema(Schema):
    target = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=128))
    subjects = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)), load_default=list)
    purpose = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=64))
    field_types = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=64)), load_default=None, allow_none=True
    )
    reveal = ma.fields.String(load_default="plain", validate=ma.validate.OneOf(["plain", "masked"]))
    minutes = ma.fields.Integer(load_default=None, allow_none=True, strict=True)


class AskSchema(Schema):
    action = ma.fields.String(required=True, validate=ma.validate.OneOf(ACTIONS))
    scope = ma.fields.Nested(ScopeSchema, required=True)
    reason_code = ma.fields.String(required=True, validate=ma.validate.OneOf(REASON_CODES))
    reason_text = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, m.MAX_REASON_TEXT),
        metadata={"description": "why; it must not hold an identifier (phone, ID, card, credit code)"},
    )


class ApprovalOutSchema(Schema):
    person = ma.fields.String()
    role = ma.fields.String()
    at = ma.fields.DateTime()


class ApprovalRequestSchema(Schema):
    id = ma.fields.String(dump_only=True)
    action = ma.fields.String(dump_only=True)
    scope = ma.fields.Dict(dump_only=True)
    requester = ma.fields.String(dump_only=True)
    requester_role = ma.fields.String(dump_only=True)
    reason_code = ma.fields.String(dump_only=True)
    reason_text = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"enum": list(m.STATES)})
    approvals_needed = ma.fields.Integer(dump_only=True)
    approver_roles = ma.fields.List(ma.fields.String(), dump_only=True)
    approvals = ma.fields.List(ma.fields.Nested(ApprovalOutSchema), dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True)
    decided_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    decided_by = ma.fields.String(dump_only=True, allow_none=True)
    grant_id = ma.fields.String(dump_only=True, allow_none=True)


class ApprovalListQuerySchema(Schema):
    state = ma.fields.String(load_default=None, validate=ma.validate.OneOf(m.STATES))
    action = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ACTIONS))
    requester = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    target = ma.fields.String(load_default=None, validate=ma.validate.Length(max=128))
    inbox = ma.fields.Boolean(load_default=False, metadata={"description": "pending ones I may approve"})
    mine = ma.fields.Boolean(load_default=False, metadata={"description": "the ones I asked for"})


class AccessGrantSchema(Schema):
    id = ma.fields.String(dump_only=True)
    kind = ma.fields.String(dump_only=True, metadata={"enum": [m.APPROVAL, m.BREAK_GLASS]})
    action = ma.fields.String(dump_only=True)
    holder = ma.fields.String(dump_only=True)
    holder_role = ma.fields.String(dump_only=True)
    scope = ma.fields.Dict(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"enum": ["active", "expired", "revoked"]})
    request_id = ma.fields.String(dump_only=True, allow_none=True)
    approved_by = ma.fields.List(ma.fields.String(), dump_only=True)
    reason_code = ma.fields.String(dump_only=True, allow_none=True)
    reason_text = ma.fields.String(dump_only=True, allow_none=True)
    starts_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_by = ma.fields.String(dump_only=True, allow_none=True)
    reviewed_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    reviewed_by = ma.fields.String(dump_only=True, allow_none=True)
    review_note = ma.fields.String(dump_only=True, allow_none=True)


class GrantListQuerySchema(Schema):
    holder = ma.fields.String(load_default=None, validate=ma.validate.Length(max=64))
    action = ma.fields.String(load_default=None, validate=ma.validate.OneOf(ACTIONS))
    target = ma.fields.String(load_default=None, validate=ma.validate.Length(max=128))
    active = ma.fields.Boolean(load_default=None, allow_none=True)


class BreakGlassQuerySchema(Schema):
    unreviewed = ma.fields.Boolean(load_default=False)


class ReviewSchema(Schema):
    note = ma.fields.String(required=True, validate=ma.validate.Length(1, m.MAX_REASON_TEXT))


def approval_out(found: m.ApprovalRequest) -> dict[str, Any]:
    """An approval request as :class:`ApprovalRequestSchema` dumps it."""
    return {**dataclasses.asdict(found), "scope": found.scope.as_dict()}


def _grant(grant: m.Grant) -> dict[str, Any]:
    now = access().clock()
    return {**dataclasses.asdict(grant), "scope": grant.scope.as_dict(), "state": grant.state_at(now)}


def _ask(use_case: str, body: dict[str, Any]) -> Any:
    """Ask for an approval, or take break-glass: the same body, one call of ``use_case``."""
    return getattr(access(), use_case)(
        acting(),
        body["action"],
        Scope.from_dict(body["scope"]),
        body["reason_code"],
        body["reason_text"],
        request_id=request_id(),
    )


# -- approvals -------------------------------------------------------------------
@blp.route("/approvals")
class Approvals(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AskSchema)
    @blp.response(201, ApprovalRequestSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Ask for an action on a scope; another person approves it (audited)."""
        return approval_out(_ask("request", body))

    @require_roles(*ROLES)
    @blp.arguments(ApprovalListQuerySchema, location="query")
    @blp.response(200, ApprovalRequestSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Approval requests, newest first, filtered; ``inbox``: mine to approve, ``mine``: I asked."""
        me = acting()
        found = access().list_requests(
            state=query["state"],
            action=query["action"],
            requester=(me.person or "") if query["mine"] else query["requester"],
            target=query["target"],
            approvable_by=me if query["inbox"] else None,
        )
        return [approval_out(r) for r in found]


@blp.route("/approvals/<approval_id>")
class ApprovalById(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, ApprovalRequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, approval_id: str) -> dict[str, Any]:
        """One approval request."""
        return approval_out(access().get(approval_id))


def _decision(name: str, doc: str) -> None:
    class Decide(MethodView):
        @require_roles(*ROLES)
        @blp.response(200, ApprovalRequestSchema)
        @blp.alt_response(404, response="NOT_FOUND")
        @blp.alt_response(409, response="CONFLICT")
        def post(self, approval_id: str) -> dict[str, Any]:
            return approval_out(getattr(access(), name)(acting(), approval_id, request_id=request_id()))

    Decide.post.__doc__ = doc
    Decide.__name__ = f"Approval{name.title()}"
    blp.route(f"/approvals/<approval_id>/{name}")(Decide)


_decision("approve", "Approve (never one's own request, through any key); enough approvals make a grant.")
_decision("deny", "Deny (an approver other than the requester); final.")
_decision("withdraw", "Withdraw one's own pending request.")


# -- grants ----------------------------------------------------------------------
@blp.route("/grants")
class Grants(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(GrantListQuerySchema, location="query")
    @blp.response(200, AccessGrantSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Grants, newest first."""
        return [_grant(g) for g in access().list_grants(**query)]


@blp.route("/grants/<grant_id>")
class GrantById(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, AccessGrantSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, grant_id: str) -> dict[str, Any]:
        """One grant."""
        return _grant(access().get_grant(grant_id))

    @require_roles(*ROLES)
    @blp.response(200, AccessGrantSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, grant_id: str) -> dict[str, Any]:
        """Revoke a grant early (its holder, or an approver of its action)."""
        return _grant(access().revoke(acting(), grant_id, request_id=request_id()))


# -- break-glass -----------------------------------------------------------------
@blp.route("/break-glass")
class BreakGlass(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(AskSchema)
    @blp.response(201, AccessGrantSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Take an emergency grant now: it raises an alert and must be reviewed by another person."""
        return _grant(_ask("break_glass", body))

    @require_roles(*ROLES)
    @blp.arguments(BreakGlassQuerySchema, location="query")
    @blp.response(200, AccessGrantSchema(many=True))
    def get(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Break-glass uses, newest first; ``unreviewed`` ones only on request."""
        found = access().list_grants(kind=m.BREAK_GLASS, unreviewed=query["unreviewed"])
        return [_grant(g) for g in found]


@blp.route("/break-glass/<grant_id>/review")
class BreakGlassReview(MethodView):
    @require_roles(*ROLES)
    @blp.arguments(ReviewSchema)
    @blp.response(200, AccessGrantSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], grant_id: str) -> dict[str, Any]:
        """Review a break-glass use (another person with the approving role)."""
        return _grant(access().review(acting(), grant_id, body["note"], request_id=request_id()))
