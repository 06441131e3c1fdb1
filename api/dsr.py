"""Data-subject requests (``/v1/dsr``) and the subject's lifecycle: close, restriction, holds.

A request is filed (service or dpo), then worked through by the DPO:
``verify-identity -> approve -> complete``, or ``reject`` with a reason.
``GET /v1/dsr?overdue=true`` lists open requests past their due date.
``POST /v1/subjects/{id}/open`` records that a customer relationship began
(retention rules such as AML record keeping apply only then) and
``POST /v1/subjects/{id}/close`` ends it and starts retention clocks; both
need a purpose that owns the relationship on a service client's key. Legal
holds keep an erased subject's data until their end. The request and response
schemas are in :mod:`api.dsr_schemas`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint

from api.approvals import ApprovalRequestSchema, approval_out
from api.auth import require_roles
from api.deps import current_container
from api.dsr_schemas import (
    ApproveSchema,
    ClosedSchema,
    CloseSchema,
    CompleteSchema,
    HoldCreateSchema,
    HoldListSchema,
    HoldReleaseSchema,
    HoldSchema,
    LiftSchema,
    OpenedSchema,
    OpenSchema,
    PackageQuerySchema,
    RejectSchema,
    RequestCreateSchema,
    RequestListQuerySchema,
    RequestListSchema,
    RequestSchema,
    SubjectStateSchema,
    VerifySchema,
)
from api.openapi import FOUR_EYES_403
from api.purposes import actor, consent_service
from api.tokens import request_id
from consent import dsr
from privacy import model as m

blp = Blueprint(
    "subject-rights",
    __name__,
    url_prefix="/v1",
    description="Data-subject requests (access, correction, erasure, restriction, withdraw-all), "
    "closing relationships, restrictions and legal holds.",
)


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
