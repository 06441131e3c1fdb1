"""Purposes of processing and their notices (``/v1/purposes``): read by every role, changed by dpo, admin."""

from __future__ import annotations

from typing import Any

from piivault_client.resources._base import Resource, body, seg


class Purposes(Resource):
    def list(self, *, include_retired: bool = False) -> list[dict]:
        """Every purpose with its legal basis, retention and current notice version."""
        answer = self._t.json("GET", "/v1/purposes", params={"include_retired": include_retired})
        return answer["purposes"]

    def get(self, code: str) -> dict:
        """One purpose. Raises NotFound."""
        return self._t.json("GET", f"/v1/purposes/{seg(code)}")

    def create(self, code: str, *, notice: dict[str, str], **definition: Any) -> dict:
        """Define a purpose: name_zh, name_en, legal_basis, retention and more, with its first
        notice ``{text_zh, text_en}``. Raises Conflict (the code exists), ValidationFailed.
        """
        return self._t.json(
            "POST", "/v1/purposes", json=body(code=code, notice=notice, **definition), idempotent=False
        )

    def update(self, code: str, **changes: Any) -> dict:
        """Change some of a purpose's definition (``retired=True`` retires it); a new version is kept.

        A change that widens access (more field types, a legal basis other than consent,
        consent no longer required, ...) is not applied yet: the answer (HTTP 202) has
        ``approval_state`` ``"pending"``, ``approval_id`` and ``widens``, and the change applies
        when a DPO, another person, calls ``approvals.approve(approval_id)``. Otherwise
        ``approval_id`` is None and the answer is the purpose as changed. Raises Forbidden
        (``no_person``: a widening change needs a key that names a person)."""
        return self._t.json("PATCH", f"/v1/purposes/{seg(code)}", json=changes, idempotent=False)

    def history(self, code: str) -> list[dict]:
        """Every version of the purpose's definition: what changed, when and by whom."""
        return self._t.json("GET", f"/v1/purposes/{seg(code)}/history")["versions"]

    def notices(self, code: str) -> list[dict]:
        """Every published notice of the purpose, with its text hash."""
        return self._t.json("GET", f"/v1/purposes/{seg(code)}/notices")["notices"]

    def notice(self, code: str, version: int) -> dict:
        """One notice version. Raises NotFound."""
        return self._t.json("GET", f"/v1/purposes/{seg(code)}/notices/{int(version)}")

    def publish_notice(self, code: str, text_zh: str, *, material: bool, text_en: str | None = None) -> dict:
        """Publish the next notice version; a ``material`` one makes older consents need reconsent."""
        return self._t.json(
            "POST",
            f"/v1/purposes/{seg(code)}/notices",
            json=body(text_zh=text_zh, text_en=text_en, material=material),
            idempotent=False,
        )
