"""Consents per subject and purpose (``/v1/subjects/{id}/consents``), signed receipts, bulk import.

Grant, renew and withdraw answer ``{record, consent, receipt_id, receipt}``;
the receipt is the signed ``{receipt, signature}`` (null while signing is
pending: :meth:`Consents.receipt` later). None of them is retried after a
lost answer: it would record the consent twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from piivault_client.resources._base import Resource, body, seg


class Consents(Resource):
    def of(self, subject_id: str) -> dict:
        """``{subject_id, consents, history}``: the state per purpose, every record (service, dpo)."""
        return self._t.json("GET", f"/v1/subjects/{seg(subject_id)}/consents")

    def history(self, subject_id: str) -> list[dict]:
        """Every grant, renewal, withdrawal and expiry of the subject, oldest first."""
        return self.of(subject_id)["history"]

    def grant(
        self,
        subject_id: str,
        purpose: str,
        channel: str,
        *,
        notice_version: int | None = None,
        separate: bool | None = None,
        expires_at: dt.datetime | None = None,
        evidence: str | None = None,
        effective_at: dt.datetime | None = None,
    ) -> dict:
        """Record consent to ``purpose`` given through ``channel`` (app, branch, web...).

        ``evidence`` is a reference (``sha256:<hex>``, ``ref:<id>``), never the
        form itself. Raises NotFound (subject), Conflict, ValidationFailed.
        """
        return self._t.json(
            "POST",
            f"/v1/subjects/{seg(subject_id)}/consents",
            json=body(
                purpose=purpose,
                channel=channel,
                notice_version=notice_version,
                separate=separate,
                expires_at=expires_at,
                evidence=evidence,
                effective_at=effective_at,
            ),
            idempotent=False,
        )

    def renew(self, subject_id: str, purpose: str, channel: str, **options: Any) -> dict:
        """Renew a granted or expired consent; ``options``: expires_at, notice_version... as :meth:`grant`."""
        return self._action(subject_id, purpose, "renew", channel, options)

    def withdraw(
        self,
        subject_id: str,
        purpose: str,
        channel: str,
        *,
        evidence: str | None = None,
        effective_at: dt.datetime | None = None,
    ) -> dict:
        """Withdraw consent: the very next request for ``purpose`` is denied. Raises NotFound, Conflict."""
        return self._action(
            subject_id, purpose, "withdraw", channel, {"evidence": evidence, "effective_at": effective_at}
        )

    def _action(self, subject_id: str, purpose: str, action: str, channel: str, options: dict) -> dict:
        return self._t.json(
            "POST",
            f"/v1/subjects/{seg(subject_id)}/consents/{seg(purpose)}/{action}",
            json=body(channel=channel, **options),
            idempotent=False,
        )

    def receipt(self, receipt_id: str) -> dict:
        """A signed consent receipt or erasure certificate ``{receipt, signature}`` (roles service, dpo)."""
        return self._t.json("GET", f"/v1/consent-receipts/{seg(receipt_id)}")

    def receipt_public_key(self) -> dict:
        """``{alg, key_id, public_key}``: the Ed25519 key that signs receipts and certificates."""
        return self._t.json("GET", "/v1/consent-receipts/public-key")

    def import_(self, content: bytes | str, format: str = "csv") -> dict:
        """Import existing consents (CSV or a JSON list), all or nothing (roles dpo, admin).

        Returns ``{rows, grants, withdrawals, subjects, sha256}``. Raises
        ValidationFailed whose ``errors["rows"]`` lists every failing row.
        """
        media_type = "application/json" if format == "json" else "text/csv"
        response = self._t.send(
            "POST",
            "/v1/consents/import",
            data=content.encode("utf-8") if isinstance(content, str) else content,
            params={"format": format},
            headers={"Content-Type": media_type},
            idempotent=False,
        )
        return response.json()
