"""``/v1/clients``: create, list, show and revoke API clients (role ``admin``).

A new client's API key is in the creation response and nowhere else, ever.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint

from access.model import Acting
from access.onboarding import create_client
from api.auth import current_principal, require_roles
from api.deps import current_container
from api.schemas import FullMatch, Schema
from api.tokens import request_id
from identity.clients.model import (
    ADMIN,
    CODE_PATTERN,
    MAX_CODES,
    MAX_EXPIRY_DAYS,
    NAME_PATTERN,
    PERMISSIONS,
    ROLES,
    Client,
)

blp = Blueprint(
    "clients",
    __name__,
    url_prefix="/v1/clients",
    description="API clients, their roles, purposes and keys (role admin).",
)

_code = ma.fields.String(validate=FullMatch(CODE_PATTERN, error="must be a lowercase code like risk_scoring"))


class ClientCreateSchema(Schema):
    name = ma.fields.String(
        required=True,
        validate=FullMatch(NAME_PATTERN, error="1-64 letters, digits, '.', '_' or '-'"),
        metadata={"description": "what the client is, e.g. crm or core-banking"},
    )
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    purposes = ma.fields.List(
        _code,
        load_default=list,
        validate=ma.validate.Length(max=MAX_CODES),
        metadata={"description": "purposes the client may declare (service and analyst clients)"},
    )
    field_types = ma.fields.List(
        _code,
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(max=MAX_CODES),
        metadata={"description": "field types the client may see; null: no limit beyond the purpose's"},
    )
    person = ma.fields.String(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(max=64),
        metadata={"description": "the person behind the key (approvals count persons, not keys)"},
    )
    permissions = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(list(PERMISSIONS))),
        load_default=list,
        validate=ma.validate.Length(max=len(PERMISSIONS)),
        metadata={
            "description": "explicit permissions: write_attributes (service clients) may replace "
            "subjects' risk attributes (POST /v1/attributes)"
        },
    )
    expires_in_days = ma.fields.Integer(
        allow_none=True,
        load_default=None,
        validate=ma.validate.Range(1, MAX_EXPIRY_DAYS),
        metadata={"description": "days until the key expires; null: it does not expire"},
    )


class ClientSchema(Schema):
    id = ma.fields.String(dump_only=True, metadata={"description": "client id (the key's public part)"})
    name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True, metadata={"enum": list(ROLES)})
    state = ma.fields.String(dump_only=True, metadata={"enum": ["active", "expired", "revoked"]})
    purposes = ma.fields.List(ma.fields.String(), dump_only=True)
    field_types = ma.fields.List(ma.fields.String(), dump_only=True, allow_none=True)
    person = ma.fields.String(dump_only=True, allow_none=True)
    permissions = ma.fields.List(ma.fields.String(), dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)
    created_by = ma.fields.String(dump_only=True)
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    revoked_by = ma.fields.String(dump_only=True, allow_none=True)
    last_used_at = ma.fields.DateTime(
        dump_only=True, allow_none=True, metadata={"description": "updated at most once a minute"}
    )
    needs_approval = ma.fields.Boolean(
        dump_only=True,
        metadata={
            "description": "a client with data access: its key works only while an approved "
            "client.data_access grant names it (a DPO, another person, approves)"
        },
    )


class ClientCreatedSchema(ClientSchema):
    api_key = ma.fields.String(
        dump_only=True,
        metadata={"description": "the API key: shown in this response only, store it now"},
    )
    approval_id = ma.fields.String(
        dump_only=True,
        allow_none=True,
        metadata={
            "description": "the approval request the key's data access waits for (approve: "
            "POST /v1/approvals/{id}/approve by a DPO); null: none needed"
        },
    )
    approval_state = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"enum": ["pending", "approved"]}
    )


def _with_state(client: Client) -> dict[str, Any]:
    return {**dataclasses.asdict(client), "state": client.state}


@blp.route("")
class Clients(MethodView):
    @require_roles(ADMIN)
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientCreatedSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a client and its API key (shown once).

        A client with data access (role service with purposes or permissions) is
        created with an approval request: its key is refused (403
        ``client_pending_approval``) until a DPO, another person than the admin
        asking, approves it. The admin's key must name a person.
        """
        days = body["expires_in_days"]
        container = current_container()
        principal = current_principal()
        made = create_client(
            container.clients,
            container.access,
            Acting(principal.person, principal.role, principal.actor),
            request_id=request_id(),
            name=body["name"],
            role=body["role"],
            purposes=body["purposes"],
            field_types=body["field_types"],
            permissions=body["permissions"],
            expires_in=dt.timedelta(days=days) if days else None,
            person=body["person"],
        )
        approval = made.approval
        return {
            **_with_state(made.client),
            "api_key": made.key,
            "approval_id": approval.id if approval else None,
            "approval_state": approval.state if approval else None,
        }

    @require_roles(ADMIN)
    @blp.response(200, ClientSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """List every client, revoked and expired ones included."""
        return [_with_state(c) for c in current_container().clients.list_clients()]


@blp.route("/<client_id>")
class ClientById(MethodView):
    @require_roles(ADMIN)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, client_id: str) -> dict[str, Any]:
        """Show one client."""
        return _with_state(current_container().clients.get(client_id))

    @require_roles(ADMIN)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def delete(self, client_id: str) -> dict[str, Any]:
        """Revoke a client's key, at once and for good.

        A key cannot revoke itself, and the last active admin cannot be revoked (409).
        """
        caller = current_principal()
        client = current_container().clients.revoke(
            client_id, actor=caller.actor, caller_id=caller.client_id
        )
        return _with_state(client)
