"""``piivault jobs run``: due expiries and shreds, idempotent, and safe to run twice at once."""

from __future__ import annotations

import json
import threading

import sqlalchemy as sa
from click.testing import CliRunner

from access.model import DSR_ERASURE
from consent import tables as t
from piivault.cli import main
from privacy import tables as pt
from tests.api.conftest import settings_env
from tests.approved import four_eyes
from tests.consent.conftest import DPO, SERVICE, call, customer
from vault import tables as vt


def _complete_erasure(container, subject_id):
    """An erasure request filed, verified, approved and completed; the request as completed."""
    dsr = call(container, "create_request", SERVICE, subject_id, "erasure", channel="branch")
    for to, kw in (("identity_verified", {"method": "in_person"}), ("approved", {}), ("completed", {})):
        if to == "completed":  # an erasure: a second DPO approved it (four eyes)
            four_eyes(container, DSR_ERASURE, dsr["dsr_id"])
        done = call(container, "advance_request", DPO, dsr["dsr_id"], to, **kw)
    return done


def _erase_under_hold(container, clock, subject_id="cust-0001"):
    customer(container, subject_id)
    call(container, "open_relationship", SERVICE, subject_id)
    done = _complete_erasure(container, subject_id)
    assert done["outcome"]["action"] == "restricted"
    call(container, "close_relationship", SERVICE, subject_id)
    clock.advance(days=5 * 366 + 1)
    return done["dsr_id"]


def _requests_waiting(container, certificate):
    """The requests the erasure's audit event says were given its certificate."""
    document = container.consent.receipts.finalize_receipt(certificate)
    event = container.audit.get_event(document["receipt"]["auditEventIndex"])
    assert event.action == "subject.erase"
    return json.loads(event.entry)["details"].get("requests_waiting")


def _carried_out(container, dsr_id):
    """(the request's outcome, the certificate ids of its "erasure_carried_out" steps)."""
    with container.engine.connect() as conn:
        outcome = conn.scalar(sa.select(t.dsr_requests.c.outcome).where(t.dsr_requests.c.dsr_id == dsr_id))
        s = t.dsr_steps.c
        steps = conn.scalars(
            sa.select(s.detail).where(s.dsr_id == dsr_id, s.reason_code == "erasure_carried_out")
        ).all()
    return json.loads(outcome), [json.loads(detail)["certificate_id"] for detail in steps]


def test_consent_expiries_are_recorded_once(container, svc, clock):
    for n in range(3):
        call(
            container,
            "grant",
            SERVICE,
            f"cust-000{n}x",
            "marketing",
            channel="app",
            expires_at=clock.now.replace(year=clock.now.year + 1),
        )
    call(container, "grant", SERVICE, "cust-0009x", "marketing", channel="app")
    clock.advance(days=400)
    assert svc.run_jobs().expired == 3
    assert svc.run_jobs().expired == 0
    history = call(container, "consents_of", DPO, "cust-0001x")["history"]
    assert [r["action"] for r in history] == ["grant", "expire"]
    assert call(container, "consents_of", DPO, "cust-0009x")["consents"][0]["state"] == "granted"


def test_two_runs_at_once_shred_once(container, svc, clock):
    _erase_under_hold(container, clock)
    reports, errors = [], []
    start = threading.Barrier(2)

    def run():
        try:
            start.wait()
            reports.append(svc.run_jobs())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sorted(r.shredded for r in reports) == [0, 1]
    with open(container.settings.erasure_ledger, encoding="utf-8") as fh:
        ledger = [json.loads(line) for line in fh]
    assert [e["subject_id"] for e in ledger] == ["cust-0001"]
    with container.session_factory() as s:
        assert (
            s.scalar(sa.select(sa.func.count()).select_from(t.receipts).where(t.receipts.c.kind == "erasure"))
            == 1
        )
        assert (
            s.scalar(sa.select(vt.data_keys.c.owner).where(vt.data_keys.c.owner == "subject:cust-0001"))
            is None
        )


def test_a_legal_hold_placed_meanwhile_postpones_the_shred(container, svc, clock):
    _erase_under_hold(container, clock)
    hold = call(
        container,
        "place_hold",
        DPO,
        "cust-0001",
        reason_code="litigation",
        ends_at=clock.now.replace(year=clock.now.year + 1),
    )
    report = svc.run_jobs()
    assert (report.shredded, report.rescheduled) == (0, 0)  # rescheduled when the hold was placed
    call(container, "release_hold", DPO, "cust-0001", hold["hold_id"], reason_code="court_order")
    assert svc.run_jobs().shredded == 1


def test_jobs_run_from_the_command_line(container, clock):
    env = settings_env(container)
    result = CliRunner().invoke(main, ["jobs", "run"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["shredded"] == 0


def test_a_restore_brings_nothing_of_an_erased_subject_back(container, svc, clock):
    from consent import erasure

    call(container, "grant", SERVICE, "cust-0001", "marketing", channel="app")
    call(
        container,
        "create_request",
        SERVICE,
        "cust-0001",
        "erasure",
        channel="app",
    )
    with container.session_factory() as s:  # what `piivault keys replay-erasures` calls after the keyring
        assert svc.forget_erased(s, ["cust-0001"]) == 1
        s.commit()
        assert s.scalar(sa.select(sa.func.count()).select_from(pt.records)) == 0
        assert s.scalar(sa.select(t.tombstones.c.subject_id)) == "cust-0001"
        assert erasure.pending_shred(s, "cust-0001") is None
    with container.session_factory() as s:
        assert svc.erased(s, "cust-0001")


def test_a_request_that_erases_first_cancels_the_scheduled_shred(container, svc, clock):
    """The holds have ended and a shred waits for the next run, when another erasure (a second
    request's; here the use case itself, without one) shreds the subject first: it cancels the
    waiting shred, which would shred again and sign a second certificate."""
    from tests.erasing import erase_subject

    _erase_under_hold(container, clock)
    assert erase_subject(container, "cust-0001")["action"] == "erased"
    report = svc.run_jobs()
    assert report.shredded == 0
    with container.engine.connect() as conn:
        assert conn.scalar(sa.select(t.jobs.c.state).where(t.jobs.c.subject_id == "cust-0001")) == "cancelled"
        r = t.receipts.c
        certificates = conn.scalar(
            sa.select(sa.func.count()).where(r.subject_id == "cust-0001", r.kind == "erasure")
        )
    assert certificates == 1


def test_a_request_that_erases_at_once_is_noted_on_the_request_whose_shred_it_cancels(container, svc, clock):
    """The first request left the subject restricted, its shred scheduled; the holds ended and
    a second request erases at once, cancelling that shred. The first request's outcome says
    so, with the certificate, and its history has the step: it no longer says "shred due" for
    an erasure that has happened."""
    first = _erase_under_hold(container, clock)
    second = _complete_erasure(container, "cust-0001")
    certificate = second["outcome"]["certificate_id"]
    assert second["outcome"]["action"] == "erased" and certificate
    outcome, steps = _carried_out(container, first)
    assert outcome["action"] == "erased" and outcome["certificate_id"] == certificate
    assert steps == [certificate]
    assert _carried_out(container, second["dsr_id"])[1] == []  # its own outcome says it
    assert _requests_waiting(container, certificate) == [first]
    assert svc.run_jobs().shredded == 0


def test_a_request_that_takes_over_the_scheduled_shred_leaves_the_first_noted_too(container, svc, clock):
    """Two requests under one hold: the subject has one scheduled shred, which the second took
    over. When it runs, both requests get the certificate, each once."""
    customer(container, "cust-0001")
    call(container, "open_relationship", SERVICE, "cust-0001")
    first, second = (_complete_erasure(container, "cust-0001")["dsr_id"] for _ in range(2))
    call(container, "close_relationship", SERVICE, "cust-0001")
    clock.advance(days=5 * 366 + 1)
    report = svc.run_jobs()
    assert report.shredded == 1
    for dsr_id in (first, second):
        outcome, steps = _carried_out(container, dsr_id)
        assert outcome["action"] == "erased" and outcome["certificate_id"] == report.certificates[0]
        assert steps == report.certificates
    assert _requests_waiting(container, report.certificates[0]) == sorted([first, second])
