"""``/v1/purposes``: the purpose catalogue, its versions and its notices (managed by dpo and admin)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from access.model import Acting
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import FullMatch, Schema
from api.tokens import request_id
from consent.service import ConsentService
from identity.clients.model import ROLES
from privacy.model import (
    HOLD_ROLES,
    LEGAL_BASES,
    MAX_NOTICE_VERSION,
    PURPOSE_ADMIN_ROLES,
    RETENTION_ANCHORS,
    SEPARATE_GROUNDS,
    Actor,
)

blp = Blueprint(
    "purposes",
    __name__,
    url_prefix="/v1/purposes",
    description="Purposes of processing: legal basis, consent, field types, retention and notices.",
)
EVERY_ROLE = ROLES  # the catalogue and its notices are read by every client
_CODE = FullMatch(r"[a-z][a-z0-9_]{1,63}", error="lowercase letters, digits and '_'")


def consent_service() -> ConsentService:
    return current_container().consent


def actor() -> Actor:
    return Actor.of(current_principal())


# -- schemas ---------------------------------------------------------------------

#: A notice version as the schema holds it; a larger one is no such notice.
NOTICE_VERSION = ma.validate.Range(1, MAX_NOTICE_VERSION)


class NoticeTextSchema(Schema):
    text_zh = ma.fields.String(required=True, validate=ma.validate.Length(1, 20_000))
    text_en = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=20_000))


class NoticePublishSchema(NoticeTextSchema):
    material = ma.fields.Boolean(
        required=True,
        metadata={"description": "a material change: consents under older notices need reconsent"},
    )


class NoticeSchema(Schema):
    purpose = ma.fields.String(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    text_zh = ma.fields.String(dump_only=True)
    text_en = ma.fields.String(dump_only=True, allow_none=True)
    material = ma.fields.Boolean(dump_only=True)
    text_hash = ma.fields.String(dump_only=True, metadata={"description": "sha256:<hex> of the texts"})
    published_at = ma.fields.DateTime(dump_only=True)
    published_by = ma.fields.String(dump_only=True)


def _definition_fields(*, for_create: bool) -> dict[str, ma.fields.Field]:
    req = {"required": True} if for_create else {}
    return {
        "name_zh": ma.fields.String(validate=ma.validate.Length(1, 200), **req),
        "name_en": ma.fields.String(validate=ma.validate.Length(1, 200), **req),
        "legal_basis": ma.fields.String(
            validate=ma.validate.OneOf(list(LEGAL_BASES)),
            metadata={"description": "PIPL art. 13 basis"},
            **req,
        ),
        "consent_required": ma.fields.Boolean(
            metadata={"description": "default: true for legal_basis consent"}
        ),
        "separate_consent_required": ma.fields.Boolean(),
        "separate_grounds": ma.fields.List(
            ma.fields.String(validate=ma.validate.OneOf(list(SEPARATE_GROUNDS))),
            metadata={"description": "why a separate consent is needed (PIPL art. 23, 25, 29, 39)"},
        ),
        "third_parties": ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 200))),
        "field_types": ma.fields.List(
            ma.fields.String(), allow_none=True, metadata={"description": "null: every field type"}
        ),
        "retention": ma.fields.String(validate=ma.validate.Length(1, 200), **req),
        "retention_anchor": ma.fields.String(
            allow_none=True, validate=ma.validate.OneOf(list(RETENTION_ANCHORS))
        ),
        "retention_years": ma.fields.Integer(allow_none=True, strict=True),
        "hold_roles": ma.fields.List(
            ma.fields.String(validate=ma.validate.OneOf(list(HOLD_ROLES))),
            metadata={"description": "roles that may still use the data under a retention hold"},
        ),
        "description": ma.fields.String(validate=ma.validate.Length(max=20_000)),
        "reconsent_grace": ma.fields.Boolean(
            metadata={"description": "consents under an older notice still count until reconsent"}
        ),
    }


PurposeCreateSchema = Schema.from_dict(
    {
        "code": ma.fields.String(required=True, validate=_CODE),
        **_definition_fields(for_create=True),
        "notice": ma.fields.Nested(NoticeTextSchema, required=True),
    },
    name="PurposeCreate",
)
PurposeUpdateSchema = Schema.from_dict(
    {**_definition_fields(for_create=False), "retired": ma.fields.Boolean()}, name="PurposeUpdate"
)


class PurposeSchema(Schema):
    code = ma.fields.String(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    name_zh = ma.fields.String(dump_only=True)
    name_en = ma.fields.String(dump_only=True)
    legal_basis = ma.fields.String(dump_only=True)
    consent_required = ma.fields.Boolean(dump_only=True)
    separate_consent_required = ma.fields.Boolean(dump_only=True)
    separate_grounds = ma.fields.List(ma.fields.String(), dump_only=True)
    third_parties = ma.fields.List(ma.fields.String(), dump_only=True)
    field_types = ma.fields.List(ma.fields.String(), dump_only=True, allow_none=True)
    retention = ma.fields.String(dump_only=True)
    retention_anchor = ma.fields.String(dump_only=True, allow_none=True)
    retention_years = ma.fields.Integer(dump_only=True, allow_none=True)
    hold_roles = ma.fields.List(ma.fields.String(), dump_only=True)
    description = ma.fields.String(dump_only=True)
    notice_version = ma.fields.Integer(dump_only=True)
    accepted_notice_version = ma.fields.Integer(dump_only=True)
    reconsent_grace = ma.fields.Boolean(dump_only=True)
    retired = ma.fields.Boolean(dump_only=True)
    retired_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    updated_at = ma.fields.DateTime(dump_only=True)
    updated_by = ma.fields.String(dump_only=True)


class PurposeChangeSchema(PurposeSchema):
    approval_id = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "202: the purpose.widen approval request the change waits for (a DPO, "
            "another person, approves: POST /v1/approvals/{id}/approve; it applies then)"
        },
    )
    approval_state = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"enum": ["pending", "approved"]}
    )
    widens = ma.fields.List(
        ma.fields.String(), dump_only=True, metadata={"description": "how the change widens access"}
    )


class PurposeListSchema(Schema):
    purposes = ma.fields.List(ma.fields.Nested(PurposeSchema), dump_only=True)


class PurposeListQuerySchema(Schema):
    include_retired = ma.fields.Boolean(load_default=False)


class PurposeVersionSchema(Schema):
    version = ma.fields.Integer(dump_only=True)
    change = ma.fields.String(dump_only=True)
    definition = ma.fields.Dict(dump_only=True)
    changed_at = ma.fields.DateTime(dump_only=True)
    changed_by = ma.fields.String(dump_only=True)


class PurposeHistorySchema(Schema):
    versions = ma.fields.List(ma.fields.Nested(PurposeVersionSchema), dump_only=True)


class NoticeListSchema(Schema):
    notices = ma.fields.List(ma.fields.Nested(NoticeSchema), dump_only=True)


# -- views -----------------------------------------------------------------------
@blp.route("")
class Purposes(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.arguments(PurposeListQuerySchema, location="query")
    @blp.response(200, PurposeListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The purpose catalogue (active purposes; retired ones on request)."""
        with current_container().uow() as uow:
            found = consent_service().list_purposes(uow, include_retired=query["include_retired"])
        return {"purposes": [p.to_dict() for p in found]}

    @require_roles(*PURPOSE_ADMIN_ROLES)
    @blp.arguments(PurposeCreateSchema)
    @blp.response(201, PurposeSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a purpose with its first notice (version 1)."""
        with current_container().uow() as uow:
            return consent_service().create_purpose(uow, actor(), body, request_id=request_id()).to_dict()


@blp.route("/<code>")
class PurposeByCode(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.response(200, PurposeSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> dict[str, Any]:
        """One purpose as it stands."""
        with current_container().uow() as uow:
            return consent_service().get_purpose(uow, code).to_dict()

    @require_roles(*PURPOSE_ADMIN_ROLES)
    @blp.arguments(PurposeUpdateSchema)
    @blp.response(200, PurposeChangeSchema)
    @blp.alt_response(
        202,
        schema=PurposeChangeSchema,
        description="the change widens access: filed as a purpose.widen approval request "
        "(approval_id); the purpose is unchanged until a DPO, another person, approves",
    )
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, body: dict[str, Any], code: str) -> Any:
        """Change a purpose: a new version (the history keeps the old). ``retired: true`` retires it.

        A change that widens access (more field types, a legal basis other than
        consent, consent or separate consent no longer required, ...) answers 202
        with ``approval_id``: it applies when a DPO, another person than the one
        asking, approves it. The key must name a person (403 ``no_person``).
        """
        principal = current_principal()
        acting = Acting(principal.person, principal.role, principal.actor)
        with current_container().uow() as uow:
            found = consent_service().change_purpose(
                uow, actor(), code, body, acting=acting, request_id=request_id()
            )
        answer = {
            **found.purpose.to_dict(),
            "widens": list(found.widens),
            "approval_id": None,
            "approval_state": None,
        }
        if found.approval is None:
            return answer
        answer.update(approval_id=found.approval.id, approval_state=found.approval.state)
        return (answer, 202) if found.approval.state == "pending" else answer


@blp.route("/<code>/history")
class PurposeHistory(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.response(200, PurposeHistorySchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> dict[str, Any]:
        """Every version of the purpose, oldest first."""
        with current_container().uow() as uow:
            return {"versions": consent_service().purpose_history(uow, code)}


@blp.route("/<code>/notices")
class Notices(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.response(200, NoticeListSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> dict[str, Any]:
        """Every notice version of the purpose."""
        with current_container().uow() as uow:
            return {"notices": consent_service().list_notices(uow, code)}

    @require_roles(*PURPOSE_ADMIN_ROLES)
    @blp.arguments(NoticePublishSchema)
    @blp.response(201, NoticeSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def post(self, body: dict[str, Any], code: str) -> dict[str, Any]:
        """Publish the next notice version; a material one requires reconsent."""
        with current_container().uow() as uow:
            return consent_service().publish_notice(
                uow,
                actor(),
                code,
                text_zh=body["text_zh"],
                text_en=body["text_en"],
                material=body["material"],
                request_id=request_id(),
            )


@blp.route(f"/<code>/notices/<int(max={MAX_NOTICE_VERSION}):version>")
class NoticeByVersion(MethodView):
    @require_roles(*EVERY_ROLE)
    @blp.response(200, NoticeSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str, version: int) -> dict[str, Any]:
        """One notice version (what the subject was told)."""
        with current_container().uow() as uow:
            return consent_service().get_notice(uow, code, version)
