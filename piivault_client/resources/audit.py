"""The audit log (``/v1/audit``, roles auditor and dpo): checkpoints, proofs, verification, reports.

Reads of events, proofs, exposure reports and exports are themselves
audited (``audit.read``). Event search pages by cursor: :meth:`Audit.iter_events`
walks every page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from piivault_client.resources._base import Resource, body, seg

PAGE = 100


class Audit(Resource):
    def checkpoint(self) -> dict:
        """The latest signed checkpoint ``{origin, size, root_hash, timestamp, time, note}``.

        Raises NotFound when none was cut yet (:meth:`cut_checkpoint`).
        """
        return self._t.json("GET", "/v1/audit/checkpoint")

    def checkpoint_note(self) -> str:
        """The latest checkpoint as its signed note: keep it outside the database for :meth:`verify`."""
        return self._t.send("GET", "/v1/audit/checkpoint", params={"format": "note"}).text

    def cut_checkpoint(self) -> dict:
        """Integrate the queue and sign a checkpoint now (audited). Raises ServiceUnavailable."""
        return self._t.json("POST", "/v1/audit/checkpoint", json={}, idempotent=True)

    def public_key(self) -> dict:
        """The checkpoint signing key: ``{origin, verifier_key, public_key, key_id, algorithm}``."""
        return self._t.json("GET", "/v1/audit/public-key")

    def events(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        limit: int = PAGE,
        cursor: str | None = None,
    ) -> dict:
        """One page ``{events, next_cursor}`` of events, oldest first; pass ``next_cursor`` on.

        ``since`` and ``until`` are timezone-aware. Raises ValidationFailed
        (e.g. a subject filter that is a personal identifier).
        """
        params = {"subject": subject, "actor": actor, "action": action, "since": since, "until": until}
        return self._t.json("GET", "/v1/audit/events", params={**params, "limit": limit, "cursor": cursor})

    def iter_events(self, *, page_size: int = PAGE, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every event matching ``filters`` (subject, actor, action, since, until: as :meth:`events`),
        oldest first, fetching ``page_size`` at a time as the iterator is consumed.
        """
        return self._t.pages("/v1/audit/events", filters, items="events", page_size=page_size)

    def inclusion_proof(self, seq: int, *, tree_size: int | None = None) -> dict:
        """RFC 6962 proof that event ``seq`` is in the tree (default: the latest checkpoint's).

        Raises NotFound, Conflict (the event is not in a checkpoint yet).
        """
        return self._t.json("GET", f"/v1/audit/events/{int(seq)}/proof", params={"tree_size": tree_size})

    def consistency_proof(self, first: int, second: int | None = None) -> dict:
        """RFC 6962 proof that the tree of size ``first`` is a prefix of ``second`` (default: latest)."""
        return self._t.json("GET", "/v1/audit/consistency", params={"first": first, "second": second})

    def exposure(self, actor: str, since: dt.datetime, until: dt.datetime | None = None) -> dict:
        """The subjects whose data ``actor`` (``client:<id>``) detokenized in [since, until)."""
        params = {"actor": actor, "since": since, "until": until}
        return self._t.json("GET", "/v1/audit/exposure", params=params)

    def export_subject(self, subject_id: str) -> dict:
        """A subject's events with inclusion proofs against the latest checkpoint, and the verifier key."""
        return self._t.json("GET", f"/v1/audit/subjects/{seg(subject_id)}/export")

    def verify(self, *, checkpoint: str | None = None, public_key: str | None = None) -> dict:
        """Recompute the chain and tree and check every checkpoint; the report ``{ok, problems, ...}``.

        ``checkpoint``: a note saved earlier (catches a truncated tail);
        ``public_key``: the published verifier key to check signatures with.
        """
        return self._t.json(
            "POST",
            "/v1/audit/verify",
            json=body(checkpoint=checkpoint, public_key=public_key),
            idempotent=True,
        )

    def last_verification(self) -> dict | None:
        """The last recorded verification (when, by whom, result), or None if never verified."""
        return self._t.json("GET", "/v1/audit/verify")["last"]
