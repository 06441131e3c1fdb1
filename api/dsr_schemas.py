"""The request and response schemas of the data-subject request and subject lifecycle routes
(:mod:`api.dsr`, whose docstring says what each route does).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.schemas import Schema
from consent import access, customer_copy, dsr, fulfilment
from consent.subject_state import LIFT_REASONS
from privacy import holds
from privacy.model import CHANNELS, HOLD_ROLES


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
