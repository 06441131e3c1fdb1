"""An event's payload: its time as events carry it, formatted once for events recorded together."""

from __future__ import annotations

import datetime as dt

from audit.events import AuditEvent, time_stamp

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 12, 6, 4, 9, 41, 7, tzinfo=SHANGHAI)


def test_time_stamp_is_utc_to_the_microsecond():
    assert time_stamp(NOW) == "2026-12-05T20:09:41.000007Z"


def test_a_stamp_given_is_the_time_the_payload_carries():
    event = AuditEvent(action="detokenize", actor="crm")
    assert event.payload(NOW, stamp=time_stamp(NOW)) == event.payload(NOW)
    assert event.payload(NOW)["time"] == "2026-12-05T20:09:41.000007Z"


def test_an_event_with_its_own_time_keeps_it_whatever_the_stamp():
    own = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    event = AuditEvent(action="erase", actor="dpo", time=own)
    assert event.payload(NOW, stamp=time_stamp(NOW))["time"] == "2025-01-02T03:04:05.000000Z"
    assert event.payload(NOW)["time"] == "2025-01-02T03:04:05.000000Z"
