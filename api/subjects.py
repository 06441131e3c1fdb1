"""``/v1/subjects``: create a subject, read its metadata (state, field types held). No PII."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import Schema
from api.tokens import request_id, tokenization
from tokenization.service import SUBJECT_CREATE_ROLES, SUBJECT_READ_ROLES

blp = Blueprint(
    "subjects",
    __name__,
    url_prefix="/v1/subjects",
    description="Subjects (customers): their state and the field types held for them, never values.",
)


class SubjectCreateSchema(Schema):
    """No fields: the subject id is random and chosen by piivault."""


class SubjectSchema(Schema):
    subject_id = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True, metadata={"enum": ["active", "restricted", "erased"]})
    created_at = ma.fields.DateTime(dump_only=True)
    opened_at = ma.fields.DateTime(
        dump_only=True,
        allow_none=True,
        metadata={"description": "when the customer relationship began (null: none, e.g. a lead)"},
    )
    closed_at = ma.fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "when the relationship ended"}
    )
    token_count = ma.fields.Integer(dump_only=True)
    field_types = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Integer(),
        dump_only=True,
        metadata={"description": "tokens held per field type"},
    )


@blp.route("")
class Subjects(MethodView):
    @require_roles(*SUBJECT_CREATE_ROLES)
    @blp.arguments(SubjectCreateSchema, required=False)
    @blp.response(201, SubjectSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a subject with a random id (subjects are also created on first tokenization)."""
        with current_container().uow() as uow:
            subject = tokenization().create_subject(uow, current_principal(), request_id=request_id())
        return {**subject, "token_count": 0, "field_types": {}}


@blp.route("/<subject_id>")
class SubjectById(MethodView):
    @require_roles(*SUBJECT_READ_ROLES)
    @blp.response(200, SubjectSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, subject_id: str) -> dict[str, Any]:
        """A subject's state, dates and the field types held, with token counts."""
        with current_container().uow() as uow:
            return tokenization().subject_info(uow, current_principal(), subject_id, request_id=request_id())
