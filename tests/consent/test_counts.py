"""consent.counts, the dashboard's aggregates: open requests by due date and type, and consents
per purpose per local day (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from consent import counts
from tests.consent.conftest import DPO, SERVICE, call, customer

SOON = dt.timedelta(days=3)


def test_open_requests_are_counted_by_type_and_due_date(container, svc, clock):
    filed = {}
    for subject, type_ in (("cust-0001", "access"), ("cust-0002", "access"), ("cust-0003", "restriction")):
        customer(container, subject)
        filed[subject] = call(container, "create_request", SERVICE, subject, type_, channel="web")
    call(container, "advance_request", DPO, filed["cust-0002"]["dsr_id"], "rejected", reason_code="duplicate")
    due = filed["cust-0001"]["due_at"]
    with container.session_factory() as session:
        early = counts.dsr_counts(session, due - dt.timedelta(days=5), SOON)
        close = counts.dsr_counts(session, due - dt.timedelta(days=1), SOON)
        late = counts.dsr_counts(session, due + dt.timedelta(days=1), SOON)
    assert early == counts.DsrCounts(open=2, overdue=0, due_soon=0, by_type={"access": 1, "restriction": 1})
    assert (close.open, close.overdue, close.due_soon) == (2, 0, 2)
    assert (late.open, late.overdue, late.due_soon) == (2, 2, 0)


def test_days_are_counted_in_the_time_zone(container):
    customer(container, "cust-0001")
    consent = container.consent
    late = dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC)  # 2 March in Shanghai, 1 March in London
    consent.clock = lambda: late + dt.timedelta(minutes=5)
    with container.uow() as uow:
        consent.grant(uow, SERVICE, "cust-0001", "marketing", channel="app", effective_at=late)
    now = dt.datetime(2026, 3, 3, 12, tzinfo=dt.UTC)
    with container.session_factory() as session:
        shanghai = counts.consent_series(session, now, "Asia/Shanghai", 5)
        london = counts.consent_series(session, now, "Europe/London", 5)
        kathmandu = counts.consent_series(session, now, "Asia/Kathmandu", 5)  # UTC+5:45
    for series, day in ((shanghai, 2), (london, 1), (kathmandu, 2)):
        by_day = dict(zip(series.days, series.purposes["marketing"]["grant"], strict=True))
        assert by_day[dt.date(2026, 3, day)] == 1 and sum(by_day.values()) == 1
    assert shanghai.total("marketing", "grant") == 1 and shanghai.total("marketing", "withdraw") == 0
