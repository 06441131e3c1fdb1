"""``POST /v1/anonymize/text``: HTTP over the free-text engine (:mod:`anonymize.text`);
``POST /v1/anonymize/texts``: the same for a batch of texts, detected together (spaCy's
``nlp.pipe`` for the English ones: several times one call per text) and one vault call
for ``tokenize``;
``POST /v1/anonymize/scan``: column discovery on sampled rows (:mod:`anonymize.scan`, roles dpo
and analyst), which returns counts per column and never a value.

Roles: ``service``, ``analyst`` and ``dpo`` process customer text (CRM notes,
complaints); ``auditor`` reads the audit log and ``admin`` manages clients, so
neither gets text through here (403). The ``tokenize`` operator stores values in
the vault and is allowed to the roles that may tokenize (``service``): the
tokenization service decides and audits it exactly as a ``/v1/tokenize`` call.

Detected types without a field type of their own in this deployment
(``cn_landline``, ``cn_hk_macau_permit``, ``phone``, ``iban``, ``ip_address``,
``us_ssn`` unless registered by configuration), and values their field type does
not accept as written (a date of birth in words, a mistyped ID), are tokenized as ``free_text``;
the response still reports the detected type. Tokens are random and standalone
(no subject): a note does not say whose values it holds.

Neither the text nor a detected value is logged or put into an error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from anonymize.scan import scan_columns
from anonymize.text import MAX_BATCH_CHARS, MAX_BATCH_TEXTS, Tokenizer, anonymize, anonymize_batch
from anonymize.text.operators import TextOperator
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import Schema
from api.tokens import request_id
from fieldtypes import UnknownFieldType
from piivault.errors import ValidationFailed
from tokenization.model import Caller, TokenizeItem

blp = Blueprint(
    "anonymize",
    __name__,
    url_prefix="/v1/anonymize",
    description="Find personal data in free text and redact, mask, replace or tokenize it.",
)

F = TypeVar("F", bound=Callable[..., Any])
FALLBACK_FIELD_TYPE = "free_text"
LANGUAGES = ("zh", "en", "auto")


class ValueNotTokenized(ValidationFailed):
    """A detected value was refused by the tokenization service (field type not allowed, invalid)."""

    code = "value_not_tokenized"


class _AnonymizeOptionsSchema(Schema):
    language = ma.fields.String(
        load_default="auto",
        validate=ma.validate.OneOf(LANGUAGES),
        metadata={"description": "zh, en or auto (default: decided from the text)"},
    )
    operator = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([o.value for o in TextOperator]),
        metadata={
            "description": "redact (remove), mask (display mask), replace (<PERSON_1>, stable within "
            "the request) or tokenize (stored in the vault; role service)"
        },
    )


class AnonymizeTextRequestSchema(_AnonymizeOptionsSchema):
    text = ma.fields.String(
        required=True, metadata={"description": "the text, at most 100,000 characters (more: 413)"}
    )


class AnonymizeTextsRequestSchema(_AnonymizeOptionsSchema):
    texts = ma.fields.List(
        ma.fields.String(),
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={
            "description": f"1 to {MAX_BATCH_TEXTS} texts (more: 413), each at most 100,000 characters "
            f"and {MAX_BATCH_CHARS:,} characters in all (more: 413)",
            "maxItems": MAX_BATCH_TEXTS,
        },
    )


class EntitySchema(Schema):
    type = ma.fields.String(metadata={"description": "field type, e.g. cn_resident_id, cn_mobile, name"})
    start = ma.fields.Integer(metadata={"description": "offset of the first character in the input text"})
    end = ma.fields.Integer(metadata={"description": "offset after the last character in the input text"})
    score = ma.fields.Float(metadata={"description": "confidence in [0, 1]; 1.0: a check digit confirmed it"})
    reason = ma.fields.String(
        metadata={"description": "present when the score is low: check digit fails, Luhn check fails, ..."}
    )


class AnonymizeTextResponseSchema(Schema):
    text = ma.fields.String(metadata={"description": "the anonymized text"})
    entities = ma.fields.List(
        ma.fields.Nested(EntitySchema), metadata={"description": "what was found, spans in the input text"}
    )


def vault_tokenizer(caller: Caller, rid: str) -> Tokenizer:
    """A :data:`~anonymize.text.Tokenizer` that stores values through the tokenization service.

    One ``tokenize`` call (one unit of work, audited by the service) for all
    distinct values. Raises what the service raises (NotPermitted for a role
    that may not tokenize, VaultUnavailable, ...) and :class:`ValueNotTokenized`
    if it refuses a value.
    """
    container = current_container()
    service = container.tokenization

    def field_type(code: str, value: str) -> str:
        try:
            field = service.field_types.get(code)
        except UnknownFieldType:
            return FALLBACK_FIELD_TYPE
        # A value detected in the form it was written ("DOB 14 March 1978", an ID with a
        # typo) that its field type does not accept is still personal data: free_text keeps it.
        return code if field.is_valid(value) else FALLBACK_FIELD_TYPE

    def tokenize(values: list[tuple[str, str]]) -> Sequence[str]:
        items = [TokenizeItem(field_type(code, value), value) for code, value in values]
        with container.uow() as uow:
            result = service.tokenize(uow, caller, items, request_id=rid)
        refused = [item["error"]["rule"] for item in result.items if "token" not in item]
        if refused:
            # Tokens stored for the other values stay (audited); no text leaves with a value in clear.
            raise ValueNotTokenized(f"a detected value could not be tokenized ({refused[0]})")
        return [item["token"] for item in result.items]

    return tokenize


def _text_operation(request: type[Schema], response: type[Schema]) -> Callable[[F], F]:
    """Roles, schemas and error responses shared by the one-text and the batch operation."""

    def decorate(view: F) -> F:
        for decorator in reversed(
            (
                require_roles("service", "analyst", "dpo"),
                blp.arguments(request),
                blp.response(200, response),
                blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE"),
                blp.alt_response(503, response="SERVICE_UNAVAILABLE"),
            )
        ):
            view = decorator(view)
        return view

    return decorate


@blp.route("/text")
class AnonymizeText(MethodView):
    @_text_operation(AnonymizeTextRequestSchema, AnonymizeTextResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Detect personal data in a text and apply the operator to every value found."""
        text, entities = anonymize(
            body["text"], body["language"], body["operator"], _tokenizer(body["operator"])
        )
        return {"text": text, "entities": [e.to_dict() for e in entities]}


class AnonymizeTextsResponseSchema(Schema):
    items = ma.fields.List(
        ma.fields.Nested(AnonymizeTextResponseSchema),
        metadata={"description": "per text, in request order: what /v1/anonymize/text returns for it"},
    )


@blp.route("/texts")
class AnonymizeTexts(MethodView):
    @_text_operation(AnonymizeTextsRequestSchema, AnonymizeTextsResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Detect personal data in a batch of texts and apply the operator in each.

        Each text gets what ``/v1/anonymize/text`` would return for it (``replace``
        numbers its placeholders per text); ``tokenize`` stores the distinct values
        of all texts in one call (at most 1,000 values, else 413).
        """
        tokenizer = _tokenizer(body["operator"])
        results = anonymize_batch(body["texts"], body["language"], body["operator"], tokenizer)
        return {
            "items": [{"text": text, "entities": [e.to_dict() for e in found]} for text, found in results]
        }


def _tokenizer(operator: str) -> Tokenizer | None:
    if operator != TextOperator.TOKENIZE:
        return None
    return vault_tokenizer(current_principal(), request_id())


SCAN_MAX_ROWS = 1000
SCAN_MAX_COLUMNS = 200
SCAN_MAX_CELL = 1000


class ScanRequestSchema(Schema):
    columns = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=200)),
        required=True,
        validate=ma.validate.Length(min=1, max=SCAN_MAX_COLUMNS),
        metadata={"description": "column names, in order"},
    )
    rows = ma.fields.List(
        ma.fields.List(ma.fields.String(allow_none=True, validate=ma.validate.Length(max=SCAN_MAX_CELL))),
        required=True,
        validate=ma.validate.Length(max=SCAN_MAX_ROWS),
        metadata={
            "description": f"sampled rows (at most {SCAN_MAX_ROWS}), one cell per column; null for empty"
        },
    )


class ColumnReportSchema(Schema):
    column = ma.fields.String()
    field_type = ma.fields.String(allow_none=True, metadata={"description": "most likely type, or null"})
    confidence = ma.fields.Float(metadata={"description": "share x mean detector score (+ header bonus)"})
    matched = ma.fields.Integer()
    sampled = ma.fields.Integer(metadata={"description": "non-empty cells"})
    share = ma.fields.Float()
    candidates = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class ScanResponseSchema(Schema):
    columns = ma.fields.List(ma.fields.Nested(ColumnReportSchema))


@blp.route("/scan")
class AnonymizeScan(MethodView):
    @require_roles("dpo", "analyst")
    @blp.arguments(ScanRequestSchema)
    @blp.response(200, ScanResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Which field type each column of a sampled table likely holds (counts only, no values back)."""
        reports = scan_columns(body["columns"], body["rows"])
        return {"columns": [r.to_dict() for r in reports]}
