"""Data-subject requests (``/v1/dsr``): file one, work it through, download what it produced.

A request is filed (roles service, dpo), then moved by the DPO:
``verify_identity -> approve -> complete``, or ``reject`` with a reason. Each
step answers the request with every step so far. A step is not retried after
a lost answer: read the request (:meth:`DataSubjectRequests.get`) to see
whether it happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from piivault_client.resources._base import Resource, body, seg


class DataSubjectRequests(Resource):
    def create(self, subject_id: str, type: str, channel: str, *, note: str | None = None) -> dict:
        """File a request: ``type`` access, correction, erasure, restriction or withdraw_all.

        Raises NotFound (no such subject), Conflict (one of this type is open), ValidationFailed.
        """
        return self._t.json(
            "POST",
            "/v1/dsr",
            json=body(subject_id=subject_id, type=type, channel=channel, note=note),
            idempotent=False,
        )

    def get(self, dsr_id: str) -> dict:
        """One request with every step (role dpo). Raises NotFound."""
        return self._t.json("GET", f"/v1/dsr/{seg(dsr_id)}")

    def list(
        self,
        *,
        state: str | None = None,
        type: str | None = None,
        subject_id: str | None = None,
        overdue: bool = False,
        limit: int = 100,
    ) -> list[dict]:
        """Requests, soonest due first (role dpo); ``overdue``: open ones past their due date."""
        params = {"state": state, "type": type, "subject_id": subject_id, "overdue": overdue, "limit": limit}
        return self._t.json("GET", "/v1/dsr", params=params)["requests"]

    def verify_identity(self, dsr_id: str, method: str, *, note: str | None = None) -> dict:
        """received -> identity_verified, saying how (e.g. id_document). Raises NotFound, Conflict."""
        return self._step(dsr_id, "verify-identity", method=method, note=note)

    def approve(self, dsr_id: str, *, note: str | None = None) -> dict:
        """identity_verified -> approved. Raises NotFound, Conflict."""
        return self._step(dsr_id, "approve", note=note)

    def complete(
        self, dsr_id: str, *, corrections: Sequence[Mapping[str, Any]] | None = None, note: str | None = None
    ) -> dict:
        """approved -> completed: carry it out. A correction takes ``corrections``:
        ``[{token, value}]`` or ``[{attribute, value}]``. The answer's ``receipts`` hold
        the signed withdrawal receipts or the erasure certificate. An erasure needs
        a ``dsr.erasure`` grant another DPO approved: without one raises Forbidden
        (``approval_required``, ``problem["approval_id"]`` names the request).
        """
        fixes = [dict(c) for c in corrections] if corrections is not None else None
        return self._step(dsr_id, "complete", corrections=fixes, note=note)

    def reject(self, dsr_id: str, reason_code: str, *, note: str | None = None) -> dict:
        """Any open state -> rejected, with a reason code. Raises NotFound, Conflict."""
        return self._step(dsr_id, "reject", reason_code=reason_code, note=note)

    def advance(self, dsr_id: str, to_state: str, **fields: Any) -> dict:
        """Move to ``to_state`` (identity_verified, approved, completed, rejected) with that step's fields."""
        return self._step(dsr_id, _STEPS[to_state], **fields)

    def _step(self, dsr_id: str, step: str, **fields: Any) -> dict:
        return self._t.json("POST", f"/v1/dsr/{seg(dsr_id)}/{step}", json=body(**fields), idempotent=False)

    def package(
        self, dsr_id: str, format: str = "json", *, lang: str = "zh-CN", values: str = "masked"
    ) -> Any:
        """The access package of an approved or completed access request (audited; role dpo).

        ``json``: the decoded package; ``html``: the summary page as text; ``customer``: the
        copy to hand to the person as print-ready HTML (text), ``pdf``: the same as PDF bytes,
        in ``lang`` (``zh-CN`` or ``en``) with values ``masked`` or ``plain``.
        Raises ServiceUnavailable for ``pdf`` where the server has no Chromium to print with.
        Four eyes: the DPO (a key naming its person) needs a ``dsr.package`` grant
        of their own, approved by another DPO. Without it raises Forbidden with
        ``code == "approval_required"``: ``problem["approval_id"]`` names the DPO's
        pending request (:meth:`ask_package`), for another DPO's ``approvals.approve``;
        it is absent when none was asked for yet (a download files nothing).
        Raises NotFound, Conflict (not an access request, or not approved yet).
        """
        params = {"format": format}
        if format in ("customer", "pdf"):
            params |= {"lang": lang, "values": values}
        response = self._t.send("GET", f"/v1/dsr/{seg(dsr_id)}/package", params=params)
        if format == "pdf":
            return response.content
        return response.json() if format == "json" else response.text

    def ask_package(self, dsr_id: str) -> dict:
        """Ask another DPO to approve this DPO's download of the package (four eyes): the
        ``dsr.package`` approval request, filed now or the pending one. Raises NotFound,
        Conflict (not an access request, or not approved yet), Forbidden (``no_person``)."""
        return self._t.json("POST", f"/v1/dsr/{seg(dsr_id)}/package/approval", idempotent=True)

    def certificate(self, dsr_id: str) -> dict | None:
        """The signed erasure certificate ``{receipt, signature}`` of a completed erasure request.

        None while the erasure waits for a hold to end (the subject is
        restricted meanwhile). Raises NotFound, and ValueError for a request
        that is not a completed erasure.
        """
        request = self.get(dsr_id)
        if request["type"] != "erasure" or request["state"] != "completed":
            raise ValueError(
                f"{dsr_id} is a {request['state']} {request['type']} request, not a completed erasure"
            )
        certificate_id = (request.get("outcome") or {}).get("certificate_id")
        if certificate_id is None:
            return None
        return self._t.json("GET", f"/v1/consent-receipts/{seg(certificate_id)}")


_STEPS = {
    "identity_verified": "verify-identity",
    "approved": "approve",
    "completed": "complete",
    "rejected": "reject",
}
