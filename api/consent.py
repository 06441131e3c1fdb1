"""Consents: grant, renew and withdraw per subject and purpose; receipts; bulk import.

``POST /v1/subjects/{id}/consents`` grants, ``.../consents/{purpose}/renew``
renews and ``.../consents/{purpose}/withdraw`` withdraws (one call, as easy as
granting); each returns the signed consent receipt. Withdrawal applies to the
very next detokenize request. ``/v1/consent-receipts/public-key`` is the key
to verify receipts with, offline.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from flask.wrappers import Response
from flask_smorest import Blueprint

from api.auth import require_roles
from api.body import max_body_bytes
from api.deps import current_container
from api.problems import problem
from api.purposes import EVERY_ROLE, NOTICE_VERSION, actor, consent_service
from api.schemas import Schema
from api.tokens import request_id
from privacy.errors import ImportRejected
from privacy.model import CHANNELS, CONSENT_ROLES, IMPORT_ROLES, MAX_NOTICE_VERSION

blp = Blueprint(
    "consents",
    __name__,
    url_prefix="/v1",
    description="Consents per subject and purpose, with signed receipts; bulk import.",
)


# -- schemas ---------------------------------------------------------------------
_EVIDENCE = {
    "description": "evidence of consent: sha256:<hex> or sm3:<hex> of the signed form or recording, "
    "or ref:<id> in the channel's records; never the content"
}


class GrantSchema(Schema):
    purpose = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(list(CHANNELS)))
    notice_version = ma.fields.Integer(
        strict=True,
        validate=NOTICE_VERSION,
        metadata={"description": "the notice the subject saw; default: the current one"},
    )
    separate = ma.fields.Boolean(
        load_default=False, metadata={"description": "a separate consent (PIPL art. 23, 29, 39)"}
    )
    expires_at = ma.fields.AwareDateTime(allow_none=True, load_default=None)
    evidence = ma.fields.String(allow_none=True, load_default=None, metadata=_EVIDENCE)
    effective_at = ma.fields.AwareDateTime(
        allow_none=True, load_default=None, metadata={"description": "when it was given; default now"}
    )


class RenewSchema(Schema):
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(list(CHANNELS)))
    notice_version = ma.fields.Integer(strict=True, validate=NOTICE_VERSION)
    separate = ma.fields.Boolean(metadata={"description": "default: as the consent renewed"})
    expires_at = ma.fields.AwareDateTime(allow_none=True, load_default=None)
    evidence = ma.fields.String(allow_none=True, load_default=None, metadata=_EVIDENCE)
    effective_at = ma.fields.AwareDateTime(allow_none=True, load_default=None)


class WithdrawSchema(Schema):
    channel = ma.fields.String(required=True, validate=ma.validate.OneOf(list(CHANNELS)))
    evidence = ma.fields.String(allow_none=True, load_default=None, metadata=_EVIDENCE)
    effective_at = ma.fields.AwareDateTime(allow_none=True, load_default=None)


class RecordSchema(Schema):
    record_id = ma.fields.String(dump_only=True)
    subject_id = ma.fields.String(dump_only=True)
    purpose = ma.fields.String(dump_only=True)
    action = ma.fields.String(dump_only=True, metadata={"enum": ["grant", "renew", "withdraw", "expire"]})
    notice_version = ma.fields.Integer(dump_only=True, allow_none=True)
    separate = ma.fields.Boolean(dump_only=True)
    channel = ma.fields.String(dump_only=True, allow_none=True)
    effective_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    evidence = ma.fields.String(dump_only=True, allow_none=True)
    source = ma.fields.String(dump_only=True)
    recorded_by = ma.fields.String(dump_only=True)
    recorded_at = ma.fields.DateTime(dump_only=True)
    receipt_id = ma.fields.String(dump_only=True, allow_none=True)


class ConsentStateSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    purpose = ma.fields.String(dump_only=True)
    state = ma.fields.String(
        dump_only=True, metadata={"enum": ["granted", "expired", "withdrawn", "reconsent_required"]}
    )
    counts = ma.fields.Boolean(dump_only=True, metadata={"description": "whether it allows processing now"})
    separate = ma.fields.Boolean(dump_only=True)
    notice_version = ma.fields.Integer(dump_only=True, allow_none=True)
    effective_at = ma.fields.DateTime(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    record_id = ma.fields.String(dump_only=True)


class ConsentAnswerSchema(Schema):
    record = ma.fields.Nested(RecordSchema, dump_only=True)
    consent = ma.fields.Nested(ConsentStateSchema, dump_only=True, allow_none=True)
    receipt_id = ma.fields.String(dump_only=True)
    receipt = ma.fields.Dict(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "the signed receipt {receipt, signature}; null if signing is pending "
            "(GET /v1/consent-receipts/{receipt_id} later)"
        },
    )


class ConsentsOfSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    consents = ma.fields.List(ma.fields.Nested(ConsentStateSchema), dump_only=True)
    history = ma.fields.List(ma.fields.Nested(RecordSchema), dump_only=True)


class PublicKeySchema(Schema):
    alg = ma.fields.String(dump_only=True)
    key_id = ma.fields.String(dump_only=True)
    public_key = ma.fields.String(dump_only=True, metadata={"description": "base64 Ed25519 public key"})


class ImportQuerySchema(Schema):
    format = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(["csv", "json"]),
        metadata={"description": "default: from Content-Type (text/csv or application/json)"},
    )


class ImportSummarySchema(Schema):
    rows = ma.fields.Integer(dump_only=True)
    grants = ma.fields.Integer(dump_only=True)
    withdrawals = ma.fields.Integer(dump_only=True)
    subjects = ma.fields.Integer(dump_only=True)
    sha256 = ma.fields.String(dump_only=True)


def _kwargs(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "purpose"}


# -- views -----------------------------------------------------------------------
@blp.route("/subjects/<subject_id>/consents")
class SubjectConsents(MethodView):
    @require_roles(*CONSENT_ROLES)
    @blp.response(200, ConsentsOfSchema)
    def get(self, subject_id: str) -> dict[str, Any]:
        """The subject's current consent per purpose, and the full history."""
        with current_container().uow() as uow:
            return consent_service().consents_of(uow, actor(), subject_id, request_id=request_id())

    @require_roles(*CONSENT_ROLES)
    @blp.arguments(GrantSchema)
    @blp.response(201, ConsentAnswerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Grant consent to a purpose; returns the record, the state and the signed receipt."""
        with current_container().uow() as uow:
            return consent_service().grant(
                uow, actor(), subject_id, body["purpose"], request_id=request_id(), **_kwargs(body)
            )


@blp.route("/subjects/<subject_id>/consents/<purpose>/renew")
class Renew(MethodView):
    @require_roles(*CONSENT_ROLES)
    @blp.arguments(RenewSchema)
    @blp.response(201, ConsentAnswerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str, purpose: str) -> dict[str, Any]:
        """Renew a granted or expired consent (new expiry, or the current notice)."""
        with current_container().uow() as uow:
            return consent_service().renew(uow, actor(), subject_id, purpose, request_id=request_id(), **body)


@blp.route("/subjects/<subject_id>/consents/<purpose>/withdraw")
class Withdraw(MethodView):
    @require_roles(*CONSENT_ROLES)
    @blp.arguments(WithdrawSchema)
    @blp.response(201, ConsentAnswerSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any], subject_id: str, purpose: str) -> dict[str, Any]:
        """Withdraw consent: the very next request for this purpose is denied ("withdrawn")."""
        with current_container().uow() as uow:
            return consent_service().withdraw(
                uow, actor(), subject_id, purpose, request_id=request_id(), **body
            )


@blp.route("/consent-receipts/public-key")
class ReceiptKey(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.response(200, PublicKeySchema)
    def get(self) -> dict[str, str]:
        """The Ed25519 public key that signs consent receipts and erasure certificates."""
        return consent_service().receipt_public_key()


@blp.route("/consent-receipts/<receipt_id>")
class Receipt(MethodView):
    @require_roles(*CONSENT_ROLES)
    @blp.response(200, description="the signed receipt or erasure certificate {receipt, signature}")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, receipt_id: str) -> dict[str, Any]:
        """A signed consent receipt or erasure certificate."""
        with current_container().uow() as uow:
            return consent_service().get_receipt(uow, actor(), receipt_id, request_id=request_id())


_TEXT = {"type": "string", "nullable": True}
IMPORT_ROW = {
    "type": "object",
    "properties": {
        "subject_id": {"type": "string"},
        "purpose": {"type": "string"},
        "action": {"type": "string", "enum": ["grant", "withdraw"]},
        "channel": {"type": "string"},
        "effective_at": {**_TEXT, "format": "date-time"},
        "expires_at": {**_TEXT, "format": "date-time"},
        "notice_version": {"type": "integer", "minimum": 1, "maximum": MAX_NOTICE_VERSION, "nullable": True},
        "separate": {"type": "boolean", "nullable": True},
        "evidence": _TEXT,
    },
    "additionalProperties": False,
}


@blp.route("/consents/import")
class Import(MethodView):
    @require_roles(*IMPORT_ROLES)
    @max_body_bytes(lambda: current_container().settings.import_max_bytes)
    @blp.arguments(ImportQuerySchema, location="query")
    @blp.response(201, ImportSummarySchema)
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.doc(
        requestBody={
            "required": True,
            "description": "CSV (header: subject_id, purpose, action, channel, effective_at, expires_at, "
            "notice_version, separate, evidence) or JSON (a list of such objects). Every row or none: "
            "a 422 lists the failing rows.",
            "content": {
                "text/csv": {"schema": {"type": "string", "minLength": 1}},
                "application/json": {"schema": {"type": "array", "items": IMPORT_ROW}},
            },
        }
    )
    def post(self, query: dict[str, Any]) -> Any:
        """Import existing consents (up to 200,000 rows), all or nothing."""
        fmt = query["format"] or ("json" if request.mimetype == "application/json" else "csv")
        content = request.get_data(cache=False)
        try:
            with current_container().uow() as uow:
                return consent_service().import_consents(uow, actor(), content, fmt, request_id=request_id())
        except ImportRejected as e:
            return _rejected(e)


def _rejected(e: ImportRejected) -> Response:
    return problem(422, "import rejected", e.message, code=e.code, errors={"rows": e.row_errors})
