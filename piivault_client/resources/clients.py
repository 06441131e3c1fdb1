"""API clients and their keys (``/v1/clients``, role admin)."""

from __future__ import annotations

from collections.abc import Sequence

from piivault_client.resources._base import Resource, body, seg


class Clients(Resource):
    def create(
        self,
        name: str,
        role: str,
        *,
        purposes: Sequence[str] = (),
        field_types: Sequence[str] | None = None,
        person: str | None = None,
        permissions: Sequence[str] = (),
        expires_in_days: int | None = None,
    ) -> dict:
        """A new client with its ``api_key``, shown in this answer only: store it now.

        ``role``: admin, service, dpo, analyst or auditor; ``purposes`` the
        purposes it may declare; ``person`` the person behind the key (approvals
        count persons); ``permissions`` explicit rights such as ``write_attributes``
        (a service client that stores risk attributes). Not retried after a lost answer (a second
        client would be made). Raises ValidationFailed.
        """
        return self._t.json(
            "POST",
            "/v1/clients",
            json=body(
                name=name,
                role=role,
                purposes=list(purposes),
                field_types=list(field_types) if field_types is not None else None,
                person=person,
                permissions=list(permissions),
                expires_in_days=expires_in_days,
            ),
            idempotent=False,
        )

    def list(self) -> list[dict]:
        """Every client with its ``state`` (active, expired, revoked); never keys."""
        return self._t.json("GET", "/v1/clients")

    def get(self, client_id: str) -> dict:
        """One client. Raises NotFound."""
        return self._t.json("GET", f"/v1/clients/{seg(client_id)}")

    def revoke(self, client_id: str) -> dict:
        """Revoke the client's key at once and for good. Raises NotFound, Conflict (already revoked)."""
        return self._t.json("DELETE", f"/v1/clients/{seg(client_id)}", idempotent=False)
