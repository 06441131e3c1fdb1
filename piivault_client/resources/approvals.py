"""Separation of duties: approval requests (``/v1/approvals``), grants (``/v1/grants``) and
break-glass (``/v1/break-glass``); roles admin, dpo and auditor, with a key that names a person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from piivault_client.resources._base import Resource, body, seg


def scope(
    *,
    target: str | None = None,
    subjects: Sequence[str] = (),
    purpose: str | None = None,
    field_types: Sequence[str] | None = None,
    reveal: str | None = None,
    minutes: int | None = None,
) -> dict[str, Any]:
    """What a request or break-glass covers: the ``target`` id of a client, DSR, extract or purpose,
    or the ``subjects``, ``purpose`` and ``field_types`` of a reveal; ``minutes`` the grant lasts."""
    return body(
        target=target,
        subjects=list(subjects),
        purpose=purpose,
        field_types=list(field_types) if field_types is not None else None,
        reveal=reveal,
        minutes=minutes,
    )


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


class Approvals(Resource):
    def request(self, action: str, scope: dict[str, Any], reason_code: str, reason_text: str) -> dict:
        """Ask for ``action`` (e.g. ``reveal``, ``dsr.package``) on ``scope`` (see :func:`scope`);
        another person approves it. ``reason_text`` must hold no identifier. Not retried after a
        lost answer (a second request would be filed). Raises ValidationFailed, Forbidden."""
        return self._t.json(
            "POST",
            "/v1/approvals",
            json={"action": action, "scope": scope, "reason_code": reason_code, "reason_text": reason_text},
            idempotent=False,
        )

    def list(
        self,
        *,
        state: str | None = None,
        action: str | None = None,
        requester: str | None = None,
        target: str | None = None,
        inbox: bool = False,
        mine: bool = False,
    ) -> list[dict]:
        """Requests, newest first; ``inbox``: pending ones this key's person may approve, ``mine``:
        the ones they asked for."""
        params = {"state": state, "action": action, "requester": requester, "target": target}
        return self._t.json(
            "GET",
            "/v1/approvals",
            params={**params, "inbox": _flag(inbox or None), "mine": _flag(mine or None)},
        )

    def get(self, approval_id: str) -> dict:
        """One request. Raises NotFound."""
        return self._t.json("GET", f"/v1/approvals/{seg(approval_id)}")

    def approve(self, approval_id: str) -> dict:
        """Approve (never one's own request, through any key); enough approvals make a grant.
        Raises Forbidden (``self_approval``, ``not_approver``), Conflict (decided, expired)."""
        return self._decide(approval_id, "approve")

    def deny(self, approval_id: str) -> dict:
        """Deny: final. Raises as :meth:`approve`."""
        return self._decide(approval_id, "deny")

    def withdraw(self, approval_id: str) -> dict:
        """Withdraw one's own pending request. Raises Forbidden (``not_requester``), Conflict."""
        return self._decide(approval_id, "withdraw")

    def _decide(self, approval_id: str, decision: str) -> dict:
        return self._t.json("POST", f"/v1/approvals/{seg(approval_id)}/{decision}", idempotent=False)


class Grants(Resource):
    def list(
        self,
        *,
        holder: str | None = None,
        action: str | None = None,
        target: str | None = None,
        active: bool | None = None,
    ) -> list[dict]:
        """Grants, newest first, each with its ``state`` (active, expired, revoked)."""
        params = {"holder": holder, "action": action, "target": target, "active": _flag(active)}
        return self._t.json("GET", "/v1/grants", params=params)

    def get(self, grant_id: str) -> dict:
        """One grant. Raises NotFound."""
        return self._t.json("GET", f"/v1/grants/{seg(grant_id)}")

    def revoke(self, grant_id: str) -> dict:
        """End a grant early (its holder or an approver of its action). Raises Conflict (inactive)."""
        return self._t.json("DELETE", f"/v1/grants/{seg(grant_id)}", idempotent=False)


class BreakGlass(Resource):
    def take(self, action: str, scope: dict[str, Any], reason_code: str, reason_text: str) -> dict:
        """An emergency grant now (at most the configured minutes): it raises an alert and waits
        for a review by another person. Not retried after a lost answer."""
        return self._t.json(
            "POST",
            "/v1/break-glass",
            json={"action": action, "scope": scope, "reason_code": reason_code, "reason_text": reason_text},
            idempotent=False,
        )

    def list(self, *, unreviewed: bool = False) -> list[dict]:
        """Break-glass uses, newest first; ``unreviewed`` ones only on request."""
        return self._t.json("GET", "/v1/break-glass", params={"unreviewed": _flag(unreviewed or None)})

    def review(self, grant_id: str, note: str) -> dict:
        """Review a use (another person with the approving role); ``note`` holds no identifier."""
        return self._t.json(
            "POST", f"/v1/break-glass/{seg(grant_id)}/review", json={"note": note}, idempotent=False
        )
