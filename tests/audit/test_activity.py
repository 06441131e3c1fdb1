"""audit.activity, the dashboard's reads of the log: the newest events of an action family with
their details, and how many events wait for the sequencer (on SQLite and PostgreSQL)."""

from __future__ import annotations

from audit import activity
from tests.audit.conftest import append


def test_the_newest_events_of_a_family_come_first_with_their_details(container):
    container.settings = container.settings.replace(audit_sequence_inline=False)  # they wait queued
    append(container, 2, action="extract.submitted")
    append(container, 1, start=2, action="detokenize")
    append(container, 1, start=3, action="extract.completed")
    with container.session_factory() as session:
        assert activity.queued_events(session) == 4
    container.audit.sequence_pending()
    with container.session_factory() as session:
        assert activity.queued_events(session) == 0
        found = activity.recent_events(session, "extract", 2)
        everything = activity.recent_events(session, "extract", 10)
    assert [(e.action, e.details) for e in found] == [
        ("extract.completed", {"n": 3}),
        ("extract.submitted", {"n": 1}),
    ]
    assert [e.seq for e in everything] == sorted((e.seq for e in everything), reverse=True)
    assert len(everything) == 3 and all(e.action.startswith("extract.") for e in everything)
    assert (found[0].actor, found[0].purpose, found[0].outcome) == ("crm", "aml_kyc", "success")
