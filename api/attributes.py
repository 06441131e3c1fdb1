"""``POST /v1/attributes``: store subjects' risk attributes (``service``), the input of extracts.

Risk models use attributes besides identifiers (age, income, debt ratio,
credit grade, a default label...). A calling system stores them per subject;
each subject's set replaces the previous one and is sealed under the
subject's data key, so erasing the subject erases them. Values are never
returned here or logged; an extract reads them through its spec's columns.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from anonymize.extract.service import ATTRIBUTE_ROLES, MAX_ATTRIBUTE_ITEMS, Requester
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import Schema
from api.tokens import request_id
from privacy.attributes import MAX_ATTRIBUTES, MAX_TEXT

blp = Blueprint(
    "attributes",
    __name__,
    url_prefix="/v1/attributes",
    description="Subjects' risk attributes (sealed under each subject's key), read by anonymized extracts.",
)


class AttributeItemSchema(Schema):
    subject_id = ma.fields.String(required=True, validate=ma.validate.Length(8, 64))
    attributes = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.Length(1, 64)),
        values=ma.fields.Raw(
            allow_none=True,
            metadata={
                "anyOf": [
                    {"type": "string", "maxLength": MAX_TEXT},
                    {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
                    {"type": "boolean"},
                ],
                "nullable": True,
            },
        ),
        required=True,
        metadata={
            "description": f"name -> text (at most {MAX_TEXT} characters), number, true/false or null; "
            f"at most {MAX_ATTRIBUTES}; names are lowercase letters, digits and _, not field type codes",
            "maxProperties": MAX_ATTRIBUTES,
            # propertyNames is not in OpenAPI 3.0: the name rule as an extension, for tools that read it
            "x-property-names": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
        },
    )


class AttributesRequestSchema(Schema):
    items = ma.fields.List(
        ma.fields.Nested(AttributeItemSchema),
        required=True,
        validate=ma.validate.Length(1, MAX_ATTRIBUTE_ITEMS),
    )


class AttributesStoredSchema(Schema):
    stored = ma.fields.Integer(
        dump_only=True, metadata={"description": "subjects whose attributes were stored"}
    )


@blp.route("")
class Attributes(MethodView):
    @require_roles(*ATTRIBUTE_ROLES)
    @blp.arguments(AttributesRequestSchema)
    @blp.response(200, AttributesStoredSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> dict[str, int]:
        """Replace the risk attributes of up to 1,000 subjects, all or none."""
        container = current_container()
        with container.uow() as uow:
            return container.extracts.put_attributes(
                uow, Requester.of(current_principal()), body["items"], request_id=request_id()
            )
