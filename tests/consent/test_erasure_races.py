"""Writers of what an erasure removes, racing one: each holds the subject against erasure
(:func:`privacy.subjects.keep_from_erasure`) before it reads whether the subject was erased, and
an erasure takes the lock's other side before it reads anything (:func:`privacy.subjects.lock_for_erasure`).

Without the lock, a writer reading at its own snapshot sees a subject whose erasure is under way
as it was: a consent and its receipt, a hold, a request's note or a risk attribute written then is
committed after the erasure deleted the subject's, and outlives it; a state read as "restricted"
is written back over "erased". Each test here races one writer against an erasure in progress:
the writer waits, then finds the subject erased and writes nothing. Then the erasure's side: a
writer that took the lock first is waited for, and what it wrote is removed.

PostgreSQL only: a SQLite transaction holds the database's write lock from its start, so a writer
and an erasure cannot interleave there.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from anonymize.extract.roles import Requester
from consent import erasure
from consent import tables as ct
from piivault.container import startup_check
from piivault.db import UnitOfWork
from piivault.errors import ConfigurationError
from privacy import holds, subjects
from privacy import tables as pt
from privacy.errors import ImportRejected, InvalidAttributes, SubjectGone
from privacy.subjects import FEW_SUBJECTS
from tests.conftest import make_container
from tests.consent.conftest import ADMIN, DPO, SERVICE, call, customer
from tests.erasing import blocked_by, connection_pid, erase_subject
from tokenization.errors import SubjectErased

SUBJECT = "cust-0001"
ATTRIBUTE_WRITER = Requester("client:svc-1", "service", permissions=frozenset({"write_attributes"}))
IMPORT_HEADER = "subject_id,purpose,action,channel,effective_at,expires_at,notice_version,separate,evidence\n"
IMPORT = IMPORT_HEADER + f"{SUBJECT},marketing,grant,app,2024-01-01T00:00:00+08:00,,,,\n"
# More subjects than a writer locks one by one (privacy.subjects.FEW_SUBJECTS): it locks them all.
IMPORT_MANY = IMPORT + "".join(
    f"cust-{n:04d}-import,marketing,grant,app,2024-01-01T00:00:00+08:00,,,,\n" for n in range(FEW_SUBJECTS)
)


@pytest.fixture(autouse=True)
def _postgresql(backend):
    if backend != "postgresql":
        pytest.skip("a SQLite transaction holds the database's write lock: writers cannot interleave")


def _rows(container, table: sa.Table, *where: Any) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(table.c.subject_id == SUBJECT, *where)))


def _state(container) -> str:
    with container.engine.connect() as conn:
        return conn.scalar(sa.select(pt.subjects.c.state).where(pt.subjects.c.subject_id == SUBJECT))


def _restricted(container, clock) -> None:
    with container.uow() as uow:
        container.tokenization.restrict_subject(uow, "dpo:test", SUBJECT, "test")


def _granted(container, clock) -> None:
    call(container, "grant", SERVICE, SUBJECT, "marketing", channel="app")


def _restriction_approved(container, clock) -> str:
    dsr_id = call(container, "create_request", SERVICE, SUBJECT, "restriction", channel="web")["dsr_id"]
    call(container, "advance_request", DPO, dsr_id, "identity_verified", method="app_login")
    call(container, "advance_request", DPO, dsr_id, "approved")
    return dsr_id


def _put_attributes(container) -> Any:
    with container.uow() as uow:
        items = [{"subject_id": SUBJECT, "attributes": {"age": 41}}]
        return container.extracts.put_attributes(uow, ATTRIBUTE_WRITER, items)


def _expiring(container, clock) -> None:
    expires = clock() + dt.timedelta(days=1)
    call(container, "grant", SERVICE, SUBJECT, "marketing", channel="app", expires_at=expires)
    clock.advance(days=2)


# name -> (set up, the write, the error it ends in (None: it ends well; or with a text it holds),
# what must hold after)
WRITERS: dict[str, tuple[Callable, Callable, Any, Callable]] = {
    "consent grant": (
        lambda c, clock: None,
        lambda c, clock, _: call(c, "grant", SERVICE, SUBJECT, "marketing", channel="app"),
        SubjectGone,
        lambda c: _rows(c, pt.records) == [] and _consent_receipts(c) == [],
    ),
    "consent withdrawal": (
        _granted,
        lambda c, clock, _: call(c, "withdraw", SERVICE, SUBJECT, "marketing", channel="app"),
        SubjectGone,
        lambda c: _rows(c, pt.records) == [] and _consent_receipts(c) == [],
    ),
    "consent expiry (jobs run)": (
        _expiring,
        lambda c, clock, _: c.consent.run_jobs(),
        None,
        lambda c: _rows(c, pt.records) == [],
    ),
    "consent import": (
        lambda c, clock: None,
        lambda c, clock, _: call(c, "import_consents", ADMIN, IMPORT.encode(), "csv"),
        (ImportRejected, "the subject was erased"),
        lambda c: _rows(c, pt.records) == [],
    ),
    "consent import of many subjects": (
        lambda c, clock: None,
        lambda c, clock, _: call(c, "import_consents", ADMIN, IMPORT_MANY.encode(), "csv"),
        (ImportRejected, "the subject was erased"),
        lambda c: _rows(c, pt.records) == [],
    ),
    "legal hold": (
        lambda c, clock: None,
        lambda c, clock, _: call(
            c, "place_hold", DPO, SUBJECT, reason_code="litigation", ends_at=clock() + dt.timedelta(days=30)
        ),
        SubjectGone,
        lambda c: _rows(c, pt.holds, pt.holds.c.released_at.is_(None)) == [],
    ),
    "request with a note": (
        lambda c, clock: None,
        lambda c, clock, _: call(c, "create_request", SERVICE, SUBJECT, "access", channel="web", note="n"),
        SubjectGone,
        lambda c: _rows(c, ct.dsr_requests) == [],
    ),
    "request moved on with a note": (
        lambda c, clock: call(c, "create_request", SERVICE, SUBJECT, "access", channel="web")["dsr_id"],
        lambda c, clock, dsr_id: call(
            c, "advance_request", DPO, dsr_id, "identity_verified", method="app_login", note="n"
        ),
        SubjectGone,
        lambda c: [r.note for r in _rows(c, ct.dsr_requests)] == [None],
    ),
    "risk attributes": (
        lambda c, clock: None,
        lambda c, clock, _: _put_attributes(c),
        (InvalidAttributes, "the subject was erased"),
        lambda c: _attributes(c) == [],
    ),
    "relationship opened": (
        lambda c, clock: None,
        lambda c, clock, _: call(c, "open_relationship", SERVICE, SUBJECT),
        SubjectGone,
        lambda c: _opened_at(c) is None,
    ),
    "restriction (tokenization)": (
        lambda c, clock: None,
        lambda c, clock, _: _restricted(c, clock),
        SubjectErased,
        lambda c: _state(c) == subjects.ERASED,
    ),
    "restriction lifted": (
        _restricted,
        lambda c, clock, _: call(c, "lift_restriction", DPO, SUBJECT, reason_code="dpo_decision"),
        SubjectGone,
        lambda c: _state(c) == subjects.ERASED,
    ),
    "restriction request completed": (
        _restriction_approved,
        lambda c, clock, dsr_id: call(c, "advance_request", DPO, dsr_id, "completed"),
        SubjectGone,
        lambda c: _state(c) == subjects.ERASED,
    ),
}


def _consent_receipts(container) -> list[Any]:
    return _rows(container, ct.receipts, ct.receipts.c.kind == "consent")


def _attributes(container) -> list[Any]:
    return _rows(container, pt.subject_attributes)


def _opened_at(container) -> Any:
    with container.engine.connect() as conn:
        return conn.scalar(sa.select(pt.subjects.c.opened_at).where(pt.subjects.c.subject_id == SUBJECT))


def _during_erasure(container, write: Callable[[], Any]) -> tuple[bool, dict[str, Any]]:
    """Begin erasing SUBJECT, run ``write`` in a thread while the erasure is uncommitted, then
    commit it: whether the write waited for the erasure, and what it returned or raised."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = write()
        except Exception as e:  # noqa: BLE001 - the test reads it
            outcome["error"] = e

    with container.uow() as uow:
        deps, now = container.consent.erasure_deps, container.consent.clock()
        done = erasure.erase(deps, uow.session, uow, SUBJECT, dsr_id=None, actor="dpo:test", now=now)
        assert done["action"] == "erased"
        writer = threading.Thread(target=run)
        writer.start()
        waited = blocked_by(container, connection_pid(uow.session.connection()), writer, lock="advisory")
        uow.commit()
    writer.join(timeout=60)
    return waited, outcome


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_writer_waits_for_an_erasure_in_progress_and_then_writes_nothing(container, clock, writer):
    set_up, write, refusal, after = WRITERS[writer]
    customer(container, SUBJECT)
    made = set_up(container, clock)
    waited, outcome = _during_erasure(container, lambda: write(container, clock, made))
    assert waited, f"the {writer} did not wait for the erasure in progress"
    error = outcome.get("error")
    if refusal is None:
        assert error is None, outcome
    else:
        kind, text = refusal if isinstance(refusal, tuple) else (refusal, "")
        assert isinstance(error, kind), outcome
        assert text in str(error) + repr(getattr(error, "row_errors", "")), error
    assert after(container)


def test_a_relationship_closed_during_an_erasure_under_its_hold_gives_the_shred_a_date(container, clock):
    """An opened relationship keeps AML records till some years after it closes: an erasure then
    restricts the subject and schedules the shred for the holds' end, unknown while it is open.
    Closing it during that erasure waits for it, then finds the scheduled shred and moves it to
    the end the close gives the holds. Read before the erasure committed, no shred is pending:
    the shred would stay without a date, and the subject restricted for good. (The retention
    holds both insert would order the two as well: this checks the outcome, the others here the
    lock.)"""
    customer(container, SUBJECT)
    call(container, "open_relationship", SERVICE, SUBJECT)
    _restricted(container, clock)
    with container.uow() as uow:
        deps, now = container.consent.erasure_deps, container.consent.clock()
        done = erasure.erase(deps, uow.session, uow, SUBJECT, dsr_id=None, actor="dpo:test", now=now)
        assert done["action"] == "restricted" and done["shred_due_at"] is None
        outcome: dict[str, Any] = {}
        closer = threading.Thread(
            target=lambda: outcome.update(closed=call(container, "close_relationship", SERVICE, SUBJECT))
        )
        closer.start()
        waited = blocked_by(container, connection_pid(uow.session.connection()), closer, lock="advisory")
        uow.commit()
    closer.join(timeout=60)
    assert waited, "closing the relationship did not wait for the erasure in progress"
    assert outcome["closed"]["closed_at"] is not None
    (job,) = _rows(container, ct.jobs)
    assert job.state == "pending" and job.due_at is not None


def test_a_hold_released_during_an_erasure_under_it_brings_the_shred_forward(container, clock):
    """An erasure under a legal hold restricts the subject and schedules the shred for the hold's
    end; the DPO releases the hold meanwhile. The release waits for the erasure, then finds the
    shred and brings it forward to now. Read before the erasure committed, there is no shred to
    move: it would wait for the released hold's old end."""
    customer(container, SUBJECT)
    ends = clock() + dt.timedelta(days=30)
    hold = call(container, "place_hold", DPO, SUBJECT, reason_code="litigation", ends_at=ends)
    with container.uow() as uow:
        deps, now = container.consent.erasure_deps, container.consent.clock()
        done = erasure.erase(deps, uow.session, uow, SUBJECT, dsr_id=None, actor="dpo:test", now=now)
        assert done["action"] == "restricted"
        releaser = threading.Thread(
            target=lambda: call(
                container, "release_hold", DPO, SUBJECT, hold["hold_id"], reason_code="withdrawn_by_dpo"
            )
        )
        releaser.start()
        waited = blocked_by(container, connection_pid(uow.session.connection()), releaser, lock="advisory")
        uow.commit()
    releaser.join(timeout=60)
    assert waited, "releasing the hold did not wait for the erasure"
    (job,) = _rows(container, ct.jobs)
    assert job.state == "pending" and job.due_at is not None and job.due_at <= clock()
    report = container.consent.run_jobs()
    assert report.shredded == 1 and _state(container) == subjects.ERASED


def test_a_request_completed_during_an_erasure_takes_the_subject_before_its_row(container, clock):
    """Completing a request locks its subject before the request's row, as an erasure does before
    it clears the subject's requests' notes. The other way round, completing a withdraw-all
    request while an erasure holds the subject would hold the request's row and wait for the
    subject (a consent withdrawn is a consent write), and the erasure would wait for the row: a
    deadlock, one of them ended by the database (a 503). Here the erasure has taken the subject
    and not yet written when the request is completed: the completion waits, then finds no
    consent left to withdraw, and the erasure goes through."""
    customer(container, SUBJECT)
    _granted(container, clock)
    dsr_id = call(container, "create_request", SERVICE, SUBJECT, "withdraw_all", channel="web")["dsr_id"]
    call(container, "advance_request", DPO, dsr_id, "identity_verified", method="app_login")
    call(container, "advance_request", DPO, dsr_id, "approved")
    outcome: dict[str, Any] = {}

    def complete() -> None:
        try:
            outcome["done"] = call(container, "advance_request", DPO, dsr_id, "completed")
        except Exception as e:  # noqa: BLE001 - the test reads it
            outcome["error"] = e

    with container.uow() as uow:
        subjects.lock_for_erasure(uow.session, SUBJECT)
        completing = threading.Thread(target=complete)
        completing.start()
        waited = blocked_by(container, connection_pid(uow.session.connection()), completing, lock="advisory")
        deps, now = container.consent.erasure_deps, container.consent.clock()
        done = erasure.erase(deps, uow.session, uow, SUBJECT, dsr_id=None, actor="dpo:test", now=now)
        uow.commit()
    completing.join(timeout=60)
    assert waited, "completing the request did not wait for the erasure"
    assert done["action"] == "erased"
    assert outcome["done"]["state"] == "completed", outcome
    assert outcome["done"]["outcome"]["withdrawn"] == []
    assert _rows(container, pt.records) == []


def test_a_bulk_writer_holds_one_lock_and_a_writer_of_few_one_each(container):
    """A lock each for 200,000 subjects would fill PostgreSQL's lock table (6,400 entries by
    default, for every transaction): more than FEW_SUBJECTS take the one on every subject."""

    def held(subject_ids: list[str]) -> list[tuple[str, int]]:
        with container.session_factory() as session:
            subjects.keep_from_erasure(session, subject_ids)
            return session.execute(
                sa.text(
                    "SELECT mode, classid::bigint FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
                )
            ).all()

    few = [f"cust-{n:04d}" for n in range(FEW_SUBJECTS)]
    assert sorted(held(few + few[:3])) == [("ShareLock", subjects.LOCK_NAMESPACE)] * FEW_SUBJECTS
    many = [f"cust-{n:06d}" for n in range(200_000)]
    assert held(many) == [("ShareLock", subjects.ALL_SUBJECTS)]


# The erasure's side: a writer that holds the subject is waited for, and what it wrote goes.


def _paused(uow: UnitOfWork, ready: threading.Event, go: threading.Event, pid: list[int]) -> UnitOfWork:
    """``uow``, whose commit waits for ``go`` after setting ``ready`` (its backend's pid in ``pid``)."""
    commit = uow.commit

    def paused(*args: Any, **kwargs: Any) -> Any:
        pid.append(connection_pid(uow.session.connection()))
        ready.set()
        assert go.wait(timeout=60)
        return commit(*args, **kwargs)

    uow.commit = paused  # type: ignore[method-assign]
    return uow


def test_an_erasure_waits_for_a_consent_being_recorded_and_deletes_it(container, clock):
    customer(container, SUBJECT)
    ready, go, pid = threading.Event(), threading.Event(), []

    def grant() -> None:
        with container.uow() as uow:
            container.consent.grant(
                _paused(uow, ready, go, pid), SERVICE, SUBJECT, "marketing", channel="app"
            )

    granting = threading.Thread(target=grant)
    granting.start()
    assert ready.wait(timeout=60)
    outcome: dict[str, Any] = {}
    eraser = threading.Thread(target=lambda: outcome.update(erase_subject(container, SUBJECT)))
    eraser.start()
    waited = blocked_by(container, pid[0], eraser, lock="advisory")
    go.set()
    granting.join(timeout=60)
    eraser.join(timeout=60)
    assert waited, "the erasure did not wait for the consent being recorded"
    assert outcome["action"] == "erased"
    assert _rows(container, pt.records) == []
    assert _consent_receipts(container) == []


@pytest.mark.parametrize("erasing", ["request", "scheduled shred"])
def test_an_erasure_waits_for_a_hold_being_placed_and_then_keeps_the_data(container, clock, erasing):
    """A legal hold being placed when an erasure begins (a request's, or a scheduled shred whose
    earlier hold was released): the erasure waits for the transaction holding the subject, then
    sees the hold and restricts the subject, or moves the shred to the hold's end. Read before
    that transaction committed, the holds would be none: the subject shredded under a hold placed
    to keep its data (the hold then released as "erased")."""
    customer(container, SUBJECT)
    if erasing == "scheduled shred":
        first = call(
            container, "place_hold", DPO, SUBJECT, reason_code="audit", ends_at=clock() + dt.timedelta(days=1)
        )
        assert erase_subject(container, SUBJECT)["action"] == "restricted"
        call(container, "release_hold", DPO, SUBJECT, first["hold_id"], reason_code="court_order")
    done: dict[str, Any] = {}
    with container.session_factory() as placing:  # what placing a hold does before it reschedules
        subjects.keep_from_erasure(placing, [SUBJECT])
        holds.place_legal(
            placing,
            SUBJECT,
            purpose=None,
            roles=["dpo"],
            reason_code="litigation",
            note=None,
            ends_at=clock() + dt.timedelta(days=30),
            actor=DPO.name,
            now=clock(),
        )
        if erasing == "request":
            eraser = threading.Thread(target=lambda: done.update(erase_subject(container, SUBJECT)))
        else:
            eraser = threading.Thread(target=lambda: done.update(run=container.consent.run_jobs()))
        eraser.start()
        waited = blocked_by(container, connection_pid(placing.connection()), eraser, lock="advisory")
        placing.commit()
    eraser.join(timeout=60)
    assert waited, "the erasure did not wait for the hold being placed"
    if erasing == "request":
        assert done["action"] == "restricted"
    else:
        assert (done["run"].shredded, done["run"].rescheduled) == (0, 1)
    assert _state(container) == subjects.RESTRICTED
    assert len(_rows(container, pt.holds, pt.holds.c.released_at.is_(None))) == 1


@pytest.fixture(params=["repeatable read", "serializable"])
def at_level(request, settings):
    """A container whose transactions run at another isolation level (the URL's options)."""
    url = sa.engine.make_url(settings.database_url)
    level = request.param.replace(" ", "\\ ")  # libpq's escaped space
    options = f"{url.query.get('options', '')} -cdefault_transaction_isolation={level}"
    other = url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    made = make_container(settings.replace(database_url=other))
    yield made
    made.close()


def test_piivault_serves_at_read_committed_only(at_level, clock):
    """At REPEATABLE READ a writer's read after the lock is at a snapshot from before its wait;
    at SERIALIZABLE PostgreSQL fails one of a writer and an erasure that race, possibly the
    erasure after its ledger line. The start-up check refuses to serve at either, and a writer
    to take the lock."""
    at_level.consent.clock = clock
    customer(at_level, SUBJECT)  # tokenize takes no subject lock: it checks the rows it writes for
    level = at_level.engine.dialect.default_isolation_level
    assert level in ("REPEATABLE READ", "SERIALIZABLE")
    with pytest.raises(ConfigurationError, match=f"at {level} .*needs READ COMMITTED"):
        startup_check(at_level)
    with pytest.raises(ConfigurationError, match=level):
        call(at_level, "grant", SERVICE, SUBJECT, "marketing", channel="app")
    assert _rows(at_level, pt.records) == []
