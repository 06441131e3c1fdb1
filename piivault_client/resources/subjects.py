"""Subjects: ``/v1/subjects`` (create, read, close, lift a restriction), holds, risk attributes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from piivault_client.resources._base import Resource, batch_errors, batches, body, seg

MAX_ATTRIBUTE_ITEMS = 1_000


class Subjects(Resource):
    def create(self) -> dict:
        """A new subject with a random id: ``{subject_id, state, ...}`` (role service).

        Not retried after a connection error: it may have been created.
        """
        return self._t.json("POST", "/v1/subjects", json={}, idempotent=False)

    def get(self, subject_id: str) -> dict:
        """State, dates, token count and field types held (roles service, dpo). Raises NotFound."""
        return self._t.json("GET", f"/v1/subjects/{seg(subject_id)}")

    def open(self, subject_id: str) -> dict:
        """A customer relationship began now: ``{subject_id, opened_at, closed_at}``.

        Retention rules tied to the relationship (AML record keeping) apply from
        now on. Roles dpo, and service with a purpose that owns the relationship
        (account_service or aml_kyc by default). Raises Forbidden, NotFound,
        Conflict (opened or closed already).
        """
        return self._t.json("POST", f"/v1/subjects/{seg(subject_id)}/open", json={}, idempotent=False)

    def close(self, subject_id: str) -> dict:
        """End the relationship now: ``{subject_id, opened_at, closed_at, holds}``, the retention holds
        started.

        Roles dpo, and service with a purpose that owns the relationship. Raises
        Forbidden, NotFound, Conflict (never opened, or closed already).
        """
        return self._t.json("POST", f"/v1/subjects/{seg(subject_id)}/close", json={}, idempotent=False)

    def lift_restriction(self, subject_id: str, reason_code: str, *, note: str | None = None) -> dict:
        """Lift a restriction, with a reason: ``{subject_id, state}`` (role dpo).

        Raises Conflict when the subject is not restricted or an erasure waits for a hold.
        """
        return self._t.json(
            "POST",
            f"/v1/subjects/{seg(subject_id)}/lift-restriction",
            json=body(reason_code=reason_code, note=note),
            idempotent=True,
        )


class Holds(Resource):
    """A subject's retention and legal holds (role dpo): erasure waits until they end."""

    def list(self, subject_id: str) -> list[dict]:
        """Every hold of the subject, released ones included."""
        return self._t.json("GET", f"/v1/subjects/{seg(subject_id)}/holds")["holds"]

    def place(
        self,
        subject_id: str,
        reason_code: str,
        ends_at: dt.datetime,
        *,
        purpose: str | None = None,
        roles: Sequence[str] | None = None,
        note: str | None = None,
    ) -> dict:
        """Place a legal hold until ``ends_at`` (aware). Raises NotFound, Conflict, ValidationFailed."""
        return self._t.json(
            "POST",
            f"/v1/subjects/{seg(subject_id)}/holds",
            json=body(
                reason_code=reason_code,
                ends_at=ends_at,
                purpose=purpose,
                roles=list(roles) if roles is not None else None,
                note=note,
            ),
            idempotent=False,
        )

    def release(self, subject_id: str, hold_id: str, reason_code: str) -> dict:
        """Release a hold now; returns the hold with ``released_at``. Raises NotFound, Conflict."""
        return self._t.json(
            "POST",
            f"/v1/subjects/{seg(subject_id)}/holds/{seg(hold_id)}/release",
            json={"reason_code": reason_code},
            idempotent=True,
        )


class Attributes(Resource):
    """Subjects' risk attributes (``/v1/attributes``, role service), which extracts read."""

    def put(self, items: Iterable[Mapping[str, Any]]) -> int:
        """Replace the attributes of each ``{subject_id, attributes: {name: value}}``; returns how many.

        Sent 1,000 subjects per request, each request all or none; the same
        attributes replace themselves, so a lost answer is retried.
        """
        stored = 0
        for start, batch in batches(list(items), MAX_ATTRIBUTE_ITEMS):
            with batch_errors(start, []):
                answer = self._t.json(
                    "POST", "/v1/attributes", json={"items": [dict(i) for i in batch]}, idempotent=True
                )
            stored += answer["stored"]
        return stored
