"""``/v1/field-types``: the field types this deployment knows, for any authenticated caller.

What a client needs before it tokenizes: each type's code, names, sensitivity class,
how its values are shown masked (on a made-up example) and which token kinds it takes.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import require_roles
from api.schemas import Schema
from api.tokens import tokenization
from fieldtypes.model import FieldType, Sensitivity
from identity.clients.model import ROLES
from tokenization.tokens import TokenKind

blp = Blueprint(
    "field-types",
    __name__,
    url_prefix="/v1/field-types",
    description="The field types values are tokenized as: names, sensitivity, mask, token kinds.",
)


class NamesSchema(Schema):
    zh = ma.fields.String(dump_only=True)
    en = ma.fields.String(dump_only=True)


class FieldTypeSchema(Schema):
    code = ma.fields.String(dump_only=True, metadata={"example": "cn_mobile"})
    names = ma.fields.Nested(NamesSchema, dump_only=True)
    sensitivity = ma.fields.String(
        dump_only=True,
        metadata={
            "enum": [s.value for s in Sensitivity],
            "description": "JR/T 0171-2020 class: C3 authentication, C2 identity and account, C1 other",
        },
    )
    pipl_sensitive = ma.fields.Boolean(
        dump_only=True, metadata={"description": "sensitive personal information (PIPL art. 28)"}
    )
    mask_example = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "a made-up value as masked output shows it; null for a configured type "
            "without an example",
            "example": "138****8000",
        },
    )
    token_kinds = ma.fields.List(
        ma.fields.String(metadata={"enum": [k.value for k in TokenKind]}),
        dump_only=True,
        metadata={"description": "the kinds POST /v1/tokenize takes for this type"},
    )


class FieldTypeListSchema(Schema):
    field_types = ma.fields.List(ma.fields.Nested(FieldTypeSchema), dump_only=True)


def describe(field_type: FieldType) -> dict[str, Any]:
    kinds = [TokenKind.RANDOM, TokenKind.DETERMINISTIC]
    if field_type.fpe is not None:
        kinds.append(TokenKind.FORMAT_PRESERVING)
    return {
        "code": field_type.code,
        "names": {"zh": field_type.names.zh, "en": field_type.names.en},
        "sensitivity": field_type.sensitivity.value,
        "pipl_sensitive": field_type.pipl_sensitive,
        "mask_example": field_type.mask_example,
        "token_kinds": [k.value for k in kinds],
    }


@blp.route("")
class FieldTypes(MethodView):
    @require_roles(*ROLES)
    @blp.response(200, FieldTypeListSchema)
    def get(self) -> dict[str, Any]:
        """Every field type, by code."""
        return {"field_types": [describe(ft) for ft in tokenization().field_types]}
