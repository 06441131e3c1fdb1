"""Data-subject requests (``/v1/dsr``) and the subject's lifecycle: close, restriction, holds.

A request is filed (service or dpo), then worked through by the DPO:
``verify-identity -> approve -> complete``, or ``reject`` with a reason.
``GET /v1/dsr?overdue=true`` lists open requests past their due date.
``POST /v1/subjects/{id}/open`` records that a customer relationship began
(retention rules such as AML record keeping apply only then) and
``POST /v1/subjects/{id}/close`` ends it and starts retention clocks; both
need a purpose that owns the relationship on a service client's key. Legal
holds keep an erased subject's data until their end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.approvals import ApprovalRequestSchema, approval_out
from api.auth import require_roles
from api.deps import current_container
from api.openapi import FOUR_EYES_403
from api.purposes import actor, consent_service
from api.schemas import Schema
from api.tokens import request_id
from consent import access, customer_copy, dsr, fulfilment, holds
from consent import model as m
from consent.model import CHANNELS, HOLD_ROLES
from consent.subject_state import LIFT_REASONS

blp = Blueprint(
    "subject-rights",
    __name__,
    url_prefix="/v1",
    description="Data-subject requests (access, correction, erasure, restriction, withdraw-all), "
    "closing relationships, restrictions and legal holds.",
)


# -- schemas ---------------------------------------------------------------------
class NoteMixin(Schema):
    note = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(max=1_000),
        metadata={"description": "the DPO's remark (not audited; cleared on erasure)"},
    )


class RequestCreateSchema(NoteMixin):
    subject_id = ma.fields.String(required=True, validate=ma.validate.Length(8, 64))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(list(dsr.TYPES)))
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(list(CHANNELS)))


class StepSchema(Schema):
    from_state = ma.fields.String(dump_only=True, allow_none=True)
    to_state = ma.fields.String(dump_only=True)
    actor = ma.fields.String(dump_only=True)
    at = ma.fields.DateTime(dump_only=True)
    reason_code = ma.fields.String(dump_only=True, allow_none=True)
    detail = ma.fields.Dict(dump_only=True, allow_none=True)


class RequestSchema(Schema):
    dsr_id = ma.fields.String(dump_only=True)
    subject_id = ma.fields.String(dump_only=True)
    type = ma.fields.String(dump_only=True)
    state = ma.fields.String(
        dump_only=True,
        metadata={"enum": ["received", "identity_verified", "approved", "completed", "rejected"]},
    )
    channel = ma.fields.String(dump_only=True)
    received_at = ma.fields.DateTime(dump_only=True)
    due_at = ma.fields.DateTime(dump_only=True)
    closed_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    overdue = ma.fields.Boolean(dump_only=True)
    outcome = ma.fields.Dict(dump_only=True, allow_none=True)
    reject_reason = ma.fields.String(dump_only=True, allow_none=True)
    note = ma.fields.String(dump_only=True, allow_none=True)
    created_by = ma.fields.String(dump_only=True)
    updated_at = ma.fields.DateTime(dump_only=True)
    steps = ma.fields.List(ma.fields.Nested(StepSchema), dump_only=True)
    certificate_id = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "a completed erasure's certificate id (also GET /v1/consent-receipts/{id})"},
    )
    certificate = ma.fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "a completed erasure's signed certificate {receipt, signature}; "
            "null while its audit event is not sequenced yet (read again in a few seconds)"
        },
    )
    receipts = ma.fields.List(
        ma.fields.Dict(allow_none=True),
        dump_only=True,
        metadata={"description": "signed withdrawal receipts or the erasure certificate, when completed"},
    )


class RequestListQuerySchema(Schema):
    state = ma.fields.String(validate=ma.validate.OneOf([*dsr.OPEN, dsr.COMPLETED, dsr.REJECTED]))
    type = ma.fields.String(validate=ma.validate.OneOf(list(dsr.TYPES)))
    subject_id = ma.fields.String(validate=ma.validate.Length(1, 64))
    overdue = ma.fields.Boolean(load_default=False, metadata={"description": "open and past the due date"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, dsr.MAX_PAGE))


class RequestListSchema(Schema):
    requests = ma.fields.List(ma.fields.Nested(RequestSchema), dump_only=True)


class VerifySchema(NoteMixin):
    method = ma.fields.String(required=True, validate=ma.validate.OneOf(list(dsr.IDENTITY_METHODS)))


class ApproveSchema(NoteMixin):
    pass


class CorrectionSchema(Schema):
    token = ma.fields.String(
        validate=ma.validate.Length(1, 128),
        metadata={"description": "a token of the subject: its value is replaced, the token stays"},
    )
    attribute = ma.fields.String(
        validate=ma.validate.Length(1, 64),
        metadata={"description": "a risk attribute of the subject (POST /v1/attributes): its value is set"},
    )
    value = ma.fields.Raw(
        required=True,
        allow_none=True,
        metadata={
            "description": "the new value: text (1 to 16,384 characters) for a token; "
            "text, a number, true/false or null for an attribute"
        },
    )

    @ma.validates_schema
    def _one_target(self, data: dict[str, Any], **_: Any) -> None:
        if ("token" in data) == ("attribute" in data):
            raise ma.ValidationError("give either token or attribute", "token")
        value = data.get("value")
        if "token" in data and not (isinstance(value, str) and 1 <= len(value) <= 16_384):
            raise ma.ValidationError("a token's new value is text of 1 to 16,384 characters", "value")


class CompleteSchema(NoteMixin):
    corrections = ma.fields.List(
        ma.fields.Nested(CorrectionSchema),
        load_default=None,
        validate=ma.validate.Length(1, fulfilment.MAX_CORRECTIONS),
        metadata={
            "description": "correction requests: the new value per token (the token stays) "
            "or per risk attribute"
        },
    )


class RejectSchema(NoteMixin):
    reason_code = ma.fields.String(required=True, validate=ma.validate.OneOf(list(dsr.REJECT_REASONS)))


class PackageQuerySchema(Schema):
    format = ma.fields.String(
        load_default="json",
        validate=ma.validate.OneOf(list(access.FORMATS)),
        metadata={
            "description": "json or html: the DPO's package; customer (print-ready HTML) or pdf: "
            "the copy to hand to the person, in words"
        },
    )
    lang = ma.fields.String(
        load_default="zh-CN",
        validate=ma.validate.OneOf(list(customer_copy.LANGUAGES)),
        metadata={"description": "customer and pdf: the copy's language"},
    )
    values = ma.fields.String(
        load_default="masked",
        validate=ma.validate.OneOf(list(customer_copy.VALUE_MODES)),
        metadata={"description": "customer and pdf: the values held, masked (default) or in plain"},
    )


class HoldSchema(Schema):
    hold_id = ma.fields.String(dump_only=True)
    subject_id = ma.fields.String(dump_only=True)
    kind = ma.fields.String(dump_only=True, metadata={"enum": ["retention", "legal"]})
    purpose = ma.fields.String(dump_only=True, allow_none=True)
    roles = ma.fields.List(ma.fields.String(), dump_only=True)
    reason_code = ma.fields.String(dump_only=True)
    note = ma.fields.String(dump_only=True, allow_none=True)
    starts_at = ma.fields.DateTime(dump_only=True)
    ends_at = ma.fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "null: not dated yet (see ends_when)"},
    )
    ends_when = ma.fields.String(
        dump_only=True,
        metadata={
            "description": "what ends the hold, e.g. '5 years after the relationship closes' "
            "(a retention hold has no end date while the relationship lasts)"
        },
    )
    placed_by = ma.fields.String(dump_only=True)
    released_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    released_by = ma.fields.String(dump_only=True, allow_none=True)
    release_reason = ma.fields.String(dump_only=True, allow_none=True)


class HoldListSchema(Schema):
    holds = ma.fields.List(ma.fields.Nested(HoldSchema), dump_only=True)


class HoldCreateSchema(NoteMixin):
    reason_code = ma.fields.String(required=True, validate=ma.validate.OneOf(list(holds.LEGAL_REASONS)))
    ends_at = ma.fields.AwareDateTime(required=True)
    purpose = ma.fields.String(
        allow_none=True,
        load_default=None,
        metadata={"description": "what the data may still be used for meanwhile (by roles)"},
    )
    roles = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(list(HOLD_ROLES))), load_default=lambda: ["dpo"]
    )


class HoldReleaseSchema(Schema):
    reason_code = ma.fields.String(required=True, validate=ma.validate.OneOf(list(holds.RELEASE_REASONS)))


class CloseSchema(Schema):
    """No fields: the relationship ends now."""


class OpenSchema(Schema):
    """No fields: the relationship begins now."""


class OpenedSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    opened_at = ma.fields.DateTime(dump_only=True)
    closed_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class ClosedSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    opened_at = ma.fields.DateTime(dump_only=True)
    closed_at = ma.fields.DateTime(dump_only=True)
    holds = ma.fields.List(ma.fields.Nested(HoldSchema), dump_only=True)


class LiftSchema(NoteMixin):
    reason_code = ma.fields.String(required=True, validate=ma.validate.OneOf(list(LIFT_REASONS)))


class SubjectStateSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True)


# -- requests --------------------------------------------------------------------
@blp.route("/dsr")
class Requests(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(RequestListQuerySchema, location="query")
    @blp.response(200, RequestListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Requests, soonest due first; ``overdue=true``: open ones past their due date."""
        with current_container().uow() as uow:
            found = consent_service().search_requests(
                uow,
                actor(),
                state=query.get("state"),
                type_=query.get("type"),
                subject_id=query.get("subject_id"),
                overdue=query["overdue"],
                limit=query["limit"],
            )
        return {"requests": found}

    @require_roles(*m.DSR_CREATE_ROLES)
    @blp.arguments(RequestCreateSchema)
    @blp.response(201, RequestSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """File a request (state received, due in PIIVAULT_DSR_DUE_DAYS days)."""
        with current_container().uow() as uow:
            return consent_service().create_request(
                uow,
                actor(),
                body["subject_id"],
                body["type"],
                channel=body["channel"],
                note=body["note"],
                request_id=request_id(),
            )


@blp.route("/dsr/<dsr_id>")
class RequestById(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.response(200, RequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, dsr_id: str) -> dict[str, Any]:
        """One request with every step: who, when, from which state to which, why."""
        with current_container().uow() as uow:
            return consent_service().get_request(uow, actor(), dsr_id, request_id=request_id())


def _advance(dsr_id: str, to_state: str, **kwargs: Any) -> dict[str, Any]:
    with current_container().uow() as uow:
        return consent_service().advance_request(
            uow, actor(), dsr_id, to_state, request_id=request_id(), **kwargs
        )


@blp.route("/dsr/<dsr_id>/verify-identity")
class VerifyIdentity(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(VerifySchema)
    @blp.response(200, RequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """received -> identity_verified, saying how."""
        return _advance(dsr_id, dsr.VERIFIED, method=body["method"], note=body["note"])


@blp.route("/dsr/<dsr_id>/approve")
class Approve(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(ApproveSchema, required=False)
    @blp.response(200, RequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """identity_verified -> approved."""
        return _advance(dsr_id, dsr.APPROVED, note=body["note"])


@blp.route("/dsr/<dsr_id>/complete")
class Complete(MethodView):
    @blp.doc(**FOUR_EYES_403)
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(CompleteSchema, required=False)
    @blp.response(200, RequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """approved -> completed: carry the request out (an erasure under a hold: restricted, shred later)."""
        return _advance(dsr_id, dsr.COMPLETED, corrections=body["corrections"], note=body["note"])


@blp.route("/dsr/<dsr_id>/reject")
class Reject(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(RejectSchema)
    @blp.response(200, RequestSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], dsr_id: str) -> dict[str, Any]:
        """Any open state -> rejected, with a reason code."""
        return _advance(dsr_id, dsr.REJECTED, reason_code=body["reason_code"], note=body["note"])


@blp.route("/dsr/<dsr_id>/package")
class Package(MethodView):
    @blp.doc(**FOUR_EYES_403)
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(PackageQuerySchema, location="query")
    @blp.response(
        200, description="the access package: JSON or an HTML summary; the customer's copy: HTML or PDF"
    )
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self, query: dict[str, Any], dsr_id: str) -> Response:
        """Download the access package of an approved or completed access request, or the copy for
        the person (audited; four eyes alike).

        Four eyes: the DPO needs a ``dsr.package`` grant of their own that another DPO
        approved. Without one: 403 ``approval_required``, naming their pending request
        (``approval_id``) or, when there is none, saying to ask with
        ``POST /v1/dsr/{id}/package/approval``. Writes nothing but the download's audit event.
        """
        fmt = query["format"]
        with current_container().uow() as uow:
            content, media_type = consent_service().access_package(
                uow,
                actor(),
                dsr_id,
                fmt,
                request_id=request_id(),
                language=query["lang"],
                values=query["values"],
            )
        response = Response(content, mimetype=media_type.split(";")[0])
        response.headers["Content-Disposition"] = f'attachment; filename="{package_file_name(dsr_id, query)}"'
        response.headers["Cache-Control"] = "no-store"
        return response


def package_file_name(dsr_id: str, query: Mapping[str, str]) -> str:
    """``<id>.json`` / ``.html`` for the DPO's package; ``<id>-copy-zh-CN.html`` / ``.pdf`` for the
    customer's."""
    fmt = query["format"]
    if fmt in ("json", "html"):
        return f"{dsr_id}.{fmt}"
    return f"{dsr_id}-copy-{query['lang']}.{'pdf' if fmt == 'pdf' else 'html'}"


@blp.route("/dsr/<dsr_id>/package/approval")
class PackageApproval(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.response(201, ApprovalRequestSchema, description="the approval request, filed now")
    @blp.alt_response(200, schema=ApprovalRequestSchema, description="your pending request, filed before")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, dsr_id: str) -> tuple[dict[str, Any], int]:
        """Ask another DPO to approve your download of this request's access package (four eyes).

        Files a ``dsr.package`` approval request, or answers with your pending one; another
        DPO approves it (``POST /v1/approvals/{id}/approve``), then ``GET .../package`` works
        for you while the grant lasts. 409 unless the access request is approved or completed.
        """
        found, filed = consent_service().ask_package_approval(actor(), dsr_id, request_id=request_id())
        return approval_out(found), 201 if filed else 200


# -- subjects --------------------------------------------------------------------
@blp.route("/subjects/<subject_id>/open")
class Open(MethodView):
    @require_roles(*m.CLOSE_ROLES)
    @blp.arguments(OpenSchema, required=False)
    @blp.response(200, OpenedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """A customer relationship began: retention rules tied to it (aml_kyc) now apply.

        A service client needs a purpose that owns the relationship
        (PIIVAULT_RELATIONSHIP_PURPOSES: account_service, aml_kyc) on its key.
        """
        with current_container().uow() as uow:
            return consent_service().open_relationship(uow, actor(), subject_id, request_id=request_id())


@blp.route("/subjects/<subject_id>/close")
class Close(MethodView):
    @require_roles(*m.CLOSE_ROLES)
    @blp.arguments(CloseSchema, required=False)
    @blp.response(200, ClosedSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """The relationship ended: retention clocks start (e.g. aml_kyc: 5 years from now).

        A service client needs a purpose that owns the relationship
        (PIIVAULT_RELATIONSHIP_PURPOSES: account_service, aml_kyc) on its key.
        """
        with current_container().uow() as uow:
            return consent_service().close_relationship(uow, actor(), subject_id, request_id=request_id())


@blp.route("/subjects/<subject_id>/lift-restriction")
class LiftRestriction(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(LiftSchema)
    @blp.response(200, SubjectStateSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Lift a restriction, with a reason (not while an erasure waits for a hold)."""
        with current_container().uow() as uow:
            return consent_service().lift_restriction(
                uow,
                actor(),
                subject_id,
                reason_code=body["reason_code"],
                note=body["note"],
                request_id=request_id(),
            )


@blp.route("/subjects/<subject_id>/holds")
class Holds(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.response(200, HoldListSchema)
    def get(self, subject_id: str) -> dict[str, Any]:
        """The subject's retention and legal holds, released ones included."""
        with current_container().uow() as uow:
            return {"holds": consent_service().list_holds(uow, actor(), subject_id, request_id=request_id())}

    @require_roles(*m.DSR_ROLES)
    @blp.arguments(HoldCreateSchema)
    @blp.response(201, HoldSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Place a legal hold with a reason and an end date: erasure waits for it."""
        with current_container().uow() as uow:
            return consent_service().place_hold(uow, actor(), subject_id, request_id=request_id(), **body)


@blp.route("/subjects/<subject_id>/holds/<hold_id>/release")
class ReleaseHold(MethodView):
    @require_roles(*m.DSR_ROLES)
    @blp.arguments(HoldReleaseSchema)
    @blp.response(200, HoldSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str, hold_id: str) -> dict[str, Any]:
        """Release a hold now; a waiting shred moves to the remaining holds' end."""
        with current_container().uow() as uow:
            return consent_service().release_hold(
                uow, actor(), subject_id, hold_id, reason_code=body["reason_code"], request_id=request_id()
            )
