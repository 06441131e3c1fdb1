"""The data-subject request workflow: states, steps, due dates, audit, and what completing does."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from consent import tables as t
from piivault.errors import ValidationFailed
from privacy.errors import InvalidConsent, InvalidTransition, NotAllowed, RequestNotFound
from tests.consent.conftest import DPO, SERVICE, audit_payloads, call, customer


def _file(container, type_="access", subject="cust-0001"):
    customer(container, subject)
    return call(container, "create_request", SERVICE, subject, type_, channel="web")


def test_every_transition_is_a_step_and_an_audit_event(container, svc, clock):
    customer(container)
    request = _file(container, "restriction")
    assert request["due_at"] == request["received_at"] + __import__("datetime").timedelta(days=15)
    call(container, "advance_request", DPO, request["dsr_id"], "identity_verified", method="app_login")
    clock.advance(hours=1)
    call(container, "advance_request", DPO, request["dsr_id"], "approved", note="checked the file")
    done = call(container, "advance_request", DPO, request["dsr_id"], "completed")
    assert done["state"] == "completed" and done["closed_at"] == clock.now
    assert [(s["from_state"], s["to_state"], s["actor"]) for s in done["steps"]] == [
        (None, "received", SERVICE.name),
        ("received", "identity_verified", DPO.name),
        ("identity_verified", "approved", DPO.name),
        ("approved", "completed", DPO.name),
    ]
    assert done["steps"][1]["detail"] == {"method": "app_login"}
    actions = [e["action"] for e in audit_payloads(container) if e["action"].startswith("dsr.")]
    assert actions == ["dsr.received", "dsr.identity_verified", "dsr.approved", "dsr.completed"]
    assert "checked the file" not in json.dumps(audit_payloads(container))  # notes are not audited


def test_due_days_come_from_the_setting(container_with):
    c = container_with(dsr_due_days=30)
    customer(c)
    request = call(c, "create_request", SERVICE, "cust-0001", "access", channel="phone")
    assert (request["due_at"] - request["received_at"]).days == 30


def test_steps_cannot_be_skipped_repeated_or_undone(container, svc):
    dsr_id = _file(container)["dsr_id"]
    with pytest.raises(InvalidTransition):
        call(container, "advance_request", DPO, dsr_id, "completed")
    with pytest.raises(InvalidConsent):
        call(container, "advance_request", DPO, dsr_id, "identity_verified", method="vibes")
    call(container, "advance_request", DPO, dsr_id, "rejected", reason_code="identity_not_verified")
    with pytest.raises(InvalidTransition):
        call(container, "advance_request", DPO, dsr_id, "identity_verified", method="in_person")
    with pytest.raises(RequestNotFound):
        call(container, "advance_request", DPO, "dsr_nope", "approved")


def test_roles(container, svc):
    dsr_id = _file(container)["dsr_id"]
    with pytest.raises(NotAllowed):
        call(container, "advance_request", SERVICE, dsr_id, "identity_verified", method="in_person")
    with pytest.raises(NotAllowed):
        call(container, "search_requests", SERVICE)


def test_search_filters(container, svc, clock):
    a = _file(container, "access")["dsr_id"]
    clock.advance(days=1)
    b = _file(container, "erasure", "cust-0002")["dsr_id"]
    assert [r["dsr_id"] for r in call(container, "search_requests", DPO)] == [a, b]
    assert [r["dsr_id"] for r in call(container, "search_requests", DPO, type_="erasure")] == [b]
    assert [r["dsr_id"] for r in call(container, "search_requests", DPO, subject_id="cust-0001")] == [a]
    clock.advance(days=15)
    assert [r["dsr_id"] for r in call(container, "search_requests", DPO, overdue=True)] == [a]
    assert svc.run_jobs().overdue_requests == 1


def test_a_failed_completion_leaves_the_request_approved(container, svc):
    customer(container)
    dsr_id = _file(container, "correction")["dsr_id"]
    call(container, "advance_request", DPO, dsr_id, "identity_verified", method="in_person")
    call(container, "advance_request", DPO, dsr_id, "approved")
    with pytest.raises(InvalidConsent):
        call(container, "advance_request", DPO, dsr_id, "completed")  # no corrections given
    with pytest.raises(ValidationFailed, match="no such token"):
        call(
            container,
            "advance_request",
            DPO,
            dsr_id,
            "completed",
            corrections=[{"token": "tok_x", "value": "a"}],
        )
    assert call(container, "get_request", DPO, dsr_id)["state"] == "approved"
    with container.session_factory() as s:
        steps = s.scalar(
            sa.select(sa.func.count()).select_from(t.dsr_steps).where(t.dsr_steps.c.dsr_id == dsr_id)
        )
    assert steps == 3


def test_an_erasure_clears_the_note_given_with_its_completion(container, svc):
    """The console's and API's note is kept on the request, "cleared when the subject is erased":
    the note given with the completion that erases is cleared with the others, not written after
    them. A note on an erased subject's request is refused."""
    from access.model import DSR_ERASURE
    from privacy.errors import SubjectGone
    from tests.approved import four_eyes

    earlier = _file(container, "access")["dsr_id"]
    call(container, "advance_request", DPO, earlier, "identity_verified", method="app_login", note="seen")
    request = call(container, "create_request", SERVICE, "cust-0001", "erasure", channel="web")["dsr_id"]
    call(container, "advance_request", DPO, request, "identity_verified", method="app_login")
    call(container, "advance_request", DPO, request, "approved")
    four_eyes(container, DSR_ERASURE, request)
    done = call(container, "advance_request", DPO, request, "completed", note="erased as asked")
    assert done["outcome"]["action"] == "erased"
    with container.engine.connect() as conn:
        notes = dict(conn.execute(sa.select(t.dsr_requests.c.dsr_id, t.dsr_requests.c.note)).all())
    assert notes == {earlier: None, request: None}
    with pytest.raises(SubjectGone, match="keep no notes"):
        call(container, "advance_request", DPO, earlier, "rejected", reason_code="duplicate", note="again")
    call(container, "advance_request", DPO, earlier, "rejected", reason_code="duplicate")  # without one
