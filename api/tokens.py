"""``/v1/tokenize``, ``/v1/detokenize`` and ``/v1/tokens/lookup``: HTTP over the tokenization service.

Views translate JSON to service calls and back; the service checks roles,
purposes and values, audits, and commits. Per-item problems (an invalid value,
a denied token) are in the 200 response, item by item; problems with the
request as a whole are problem+json (422 malformed, 413 over 1,000 items,
409 Idempotency-Key reused with another body, 503 Vault or database down).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import marshmallow as ma
from flask import after_this_request, g, json, request
from flask.views import MethodView
from flask.wrappers import Response
from flask_smorest import Blueprint

from api.auth import current_principal, require_roles
from api.deps import current_container
from api.listfields import FlatItems, Strings
from api.schemas import Schema
from piivault import metrics
from privacy import DETOKENIZE_ROLES, TOKENIZE_ROLES
from tokenization.model import MAX_BATCH, TokenizeItem
from tokenization.service import TokenizationService
from tokenization.tokens import TokenKind

blp = Blueprint(
    "tokens",
    __name__,
    url_prefix="/v1",
    description="Tokenize values, detokenize tokens under a declared purpose, look values up.",
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
MAX_VALUE_CHARS = 16_384


def tokenization() -> TokenizationService:
    return current_container().tokenization


def request_id() -> str:
    """The caller's X-Request-Id if it is a plain id, else a new one; echoed in the response.

    It goes into the audit log, so an id that is a mobile or ID number is replaced.
    """
    if "piivault_request_id" in g:  # the same id for every use in one request (and its log line)
        return g.piivault_request_id
    given = request.headers.get(REQUEST_ID_HEADER, "")
    plain = _REQUEST_ID.fullmatch(given) and not tokenization().looks_like_identifier(given)
    rid = g.piivault_request_id = given if plain else uuid.uuid4().hex

    @after_this_request
    def _echo(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = rid
        return response

    return rid


def items_response(items: list[dict]) -> Response:
    """``{"items": items}`` as JSON, without a marshmallow dump.

    The per-item dicts come from the service with exactly the documented keys
    (the response schemas below describe them for the OpenAPI document);
    dumping 1,000 of them through marshmallow costs as much as sealing them.
    """
    return Response(json.dumps({"items": items}), mimetype="application/json")


def count_items(operation: str, items: list[dict]) -> None:
    """``piivault_token_items_total``: ok, or the item's error code and reason (codes only:
    a tokenize error's rule, a detokenize decision's reason; never the message or a value)."""
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        error = item.get("error")
        if error is None:
            key = ("ok", "none")
        elif isinstance(error, dict):
            key = ("invalid", metrics.code(error.get("rule")))
        else:
            reason = str(item.get("reason") or "none").replace(" ", "_")
            key = (metrics.code(error), metrics.code(reason))
        counts[key] = counts.get(key, 0) + 1
    for (outcome, reason), n in counts.items():
        metrics.labelled(metrics.TOKEN_ITEMS, operation, outcome, reason).inc(n)


# -- schemas ---------------------------------------------------------------------
class TokenizeItemSchema(Schema):
    field_type = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "field type code, e.g. cn_mobile, cn_resident_id, bank_card"},
    )
    value = ma.fields.String(
        required=True,
        validate=ma.validate.Length(max=MAX_VALUE_CHARS),
        metadata={"description": "the value; normalized and validated for its field type"},
    )
    subject_id = ma.fields.String(
        allow_none=True,
        load_default=None,
        metadata={
            "description": "the customer it belongs to (created on first use; opaque, 8-64 characters, "
            "never derived from PII); omit for a standalone token"
        },
    )
    kind = ma.fields.String(
        load_default=TokenKind.RANDOM.value,
        validate=ma.validate.OneOf([k.value for k in TokenKind]),
        metadata={"description": "random (default), deterministic or format_preserving"},
    )
    keep_ends = ma.fields.Boolean(
        load_default=True,
        metadata={
            "description": "format_preserving only: keep what the field type allows in clear "
            "(a card's last 4, its first 6 too only if PIIVAULT_CARD_TOKEN_KEEPS_BIN is set; "
            "an ID's region code); false keeps nothing"
        },
    )


class TokenizeRequestSchema(Schema):
    purpose = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(1, 64),
        metadata={
            "description": "optional: why the values are collected, on the caller's key; a restricted "
            "subject takes new data only for a purpose one of its holds allows (else the item's error "
            "is restricted)"
        },
    )
    items = FlatItems(
        TokenizeItemSchema,
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": f"1 to {MAX_BATCH} items (more: 413)", "maxItems": MAX_BATCH},
    )


class ItemErrorSchema(Schema):
    rule = ma.fields.String(metadata={"description": "the rule that failed, e.g. luhn, check_digit, length"})
    message = ma.fields.String(metadata={"description": "what the rule requires; never the value"})


class TokenizeResultSchema(Schema):
    token = ma.fields.String()
    error = ma.fields.Nested(ItemErrorSchema)


class TokenizeResponseSchema(Schema):
    items = ma.fields.List(
        ma.fields.Nested(TokenizeResultSchema),
        metadata={"description": "per item, in request order: {token} or {error}"},
    )


class DetokenizeRequestSchema(Schema):
    purpose = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={"description": "why the values are needed, e.g. aml_kyc; must be on the caller's key"},
    )
    tokens = Strings(
        ma.fields.String(validate=ma.validate.Length(1, 128)),
        required=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": f"1 to {MAX_BATCH} tokens (more: 413)", "maxItems": MAX_BATCH},
    )
    reveal = ma.fields.String(
        load_default="plain",
        validate=ma.validate.OneOf(["plain", "masked"]),
        metadata={"description": "plain (default) or masked; a dpo key always gets masked"},
    )


class DetokenizeResultSchema(Schema):
    value = ma.fields.String()
    masked = ma.fields.String()
    error = ma.fields.String(metadata={"enum": ["not_found", "denied", "restricted", "erased"]})
    reason = ma.fields.String(
        metadata={"description": "why, e.g. no consent, purpose not allowed for this client"}
    )


class DetokenizeResponseSchema(Schema):
    items = ma.fields.List(
        ma.fields.Nested(DetokenizeResultSchema),
        metadata={
            "description": "per token, in request order (tokens are not echoed): "
            "{value}, {masked} or {error, reason}"
        },
    )


class LookupRequestSchema(Schema):
    purpose = ma.fields.String(
        required=True,
        validate=ma.validate.Length(1, 64),
        metadata={
            "description": "why the link is needed, e.g. aml_kyc; decided as a detokenize is (on the key, "
            "covering the field type; subjects restricted or without the consent it needs are left out)"
        },
    )
    field_type = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    value = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_VALUE_CHARS))


class LookupMatchSchema(Schema):
    token = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": [k.value for k in TokenKind]})
    subject_id = ma.fields.String(allow_none=True, metadata={"description": "null for a standalone token"})


class LookupResponseSchema(Schema):
    tokens = ma.fields.List(ma.fields.Nested(LookupMatchSchema))


_IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": IDEMPOTENCY_HEADER,
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            "description": "1-255 printable ASCII characters without spaces; makes a retry safe: "
            "the same key and body within 24 h return the first "
            "response (with Idempotent-Replayed: true); the same key with another body is a 409",
        }
    ]
}


# -- views -----------------------------------------------------------------------
# Instances, not classes: webargs builds a schema given as a class anew for every request
# (its fields deep-copied), a tenth of a millisecond of a single detokenize's CPU (issue 22).
# Loading keeps no state in the schema, so one instance serves every thread.
_TOKENIZE_REQUEST = TokenizeRequestSchema()
_DETOKENIZE_REQUEST = DetokenizeRequestSchema()
_LOOKUP_REQUEST = LookupRequestSchema()


@blp.route("/tokenize")
class Tokenize(MethodView):
    @require_roles(*TOKENIZE_ROLES)
    @blp.arguments(_TOKENIZE_REQUEST)
    @blp.response(200, TokenizeResponseSchema)
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    @blp.doc(**_IDEMPOTENCY_DOC)
    def post(self, body: dict[str, Any]) -> Response:
        """Tokenize up to 1,000 values: a token or an error per item."""
        key = request.headers.get(IDEMPOTENCY_HEADER)
        rid = request_id()
        with current_container().uow() as uow:
            items = [TokenizeItem(**item) for item in body["items"]]
            result = tokenization().tokenize(
                uow, current_principal(), items, purpose=body["purpose"], idempotency_key=key, request_id=rid
            )
        count_items("tokenize", result.items)
        response = items_response(result.items)
        if result.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return response


def _audit_role_denial() -> None:
    with current_container().uow() as uow:
        tokenization().refuse_detokenize_role(uow, current_principal(), request_id=request_id())


@blp.route("/detokenize")
class Detokenize(MethodView):
    # Decided before the body is read, and audited: an attempt by a role that never detokenizes.
    @require_roles(*DETOKENIZE_ROLES, on_denied=_audit_role_denial)
    @blp.arguments(_DETOKENIZE_REQUEST)
    @blp.response(200, DetokenizeResponseSchema)
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any]) -> Response:
        """Values for tokens, under a declared purpose; each token decided and audited.

        Roles service (plain or masked) and dpo (masked); any other role gets a 403.
        """
        # Read-only but for its audit events: those are committed with other requests'.
        with current_container().uow(read_only=True) as uow:
            items = tokenization().detokenize(
                uow,
                current_principal(),
                body["purpose"],
                body["tokens"],
                body["reveal"],
                request_id=request_id(),
            )
        count_items("detokenize", items)
        return items_response(items)


@blp.route("/tokens/lookup")
class Lookup(MethodView):
    # Narrower than tokenization.lookup.LOOKUP_ROLES on purpose: over the API a lookup is a
    # calling system's; the DPO searches by value in the console.
    @require_roles("service")
    @blp.arguments(_LOOKUP_REQUEST)
    @blp.response(200, LookupResponseSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Who holds this value, under which tokens, as far as the declared purpose allows.

        Blind index: nothing is decrypted. Decided by the policy decision point
        as a detokenize is: a purpose not on the key or not covering the field
        type is a 403; restricted subjects and those without the consent the
        purpose needs are left out. Each subject found is audited by name.
        """
        # Not read-only: the first lookup of a deployment creates the blind-index key.
        with current_container().uow() as uow:
            tokens = tokenization().lookup(
                uow,
                current_principal(),
                body["field_type"],
                body["value"],
                purpose=body["purpose"],
                request_id=request_id(),
            )
        return {"tokens": tokens}
