"""in_force (the API key's check on every request, read with its client's row) answers as
grant_for does."""

from __future__ import annotations

import datetime as dt
import itertools

import sqlalchemy as sa

from access import grants
from access import model as m
from access import tables as t

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def _row(n: int, action: str, target: str, *, expires: dt.datetime | None, revoked: bool = False) -> dict:
    return {
        "id": f"grant-{n}",
        "kind": "approval",
        "action": action,
        "holder": "svc",
        "holder_role": "service",
        "scope": {"target": target},
        "target": target,
        "approved_by": ["don"],
        "starts_at": NOW - 2 * HOUR,
        "expires_at": expires,
        "revoked_at": NOW - HOUR if revoked else None,
        "revoked_by": "don" if revoked else None,
    }


def test_in_force_agrees_with_grant_for(container):
    rows = [
        _row(1, m.CLIENT_DATA_ACCESS, "until-revoked", expires=None),
        _row(2, m.CLIENT_DATA_ACCESS, "until-later", expires=NOW + HOUR),
        _row(3, m.CLIENT_DATA_ACCESS, "expires-now", expires=NOW),
        _row(4, m.CLIENT_DATA_ACCESS, "expired", expires=NOW - HOUR),
        _row(5, m.CLIENT_DATA_ACCESS, "revoked", expires=None, revoked=True),
        _row(6, m.IDENTITY_APPROVER, "other-action", expires=None),
        _row(7, m.CLIENT_DATA_ACCESS, "one-of-two", expires=NOW - HOUR),
        _row(8, m.CLIENT_DATA_ACCESS, "one-of-two", expires=NOW + HOUR),
    ]
    targets = sorted({r["target"] for r in rows}) + ["nobody"]
    with container.uow() as uow:
        session = uow.session
        session.execute(t.grants.insert(), rows)
        answers = {}
        for action, target, now in itertools.product(
            (m.CLIENT_DATA_ACCESS, m.IDENTITY_APPROVER), targets, (NOW - 2 * HOUR, NOW, NOW + 2 * HOUR)
        ):
            expected = grants.grant_for(session, action, target, now) is not None
            in_force = session.scalar(sa.select(grants.in_force(action, target, now)))
            assert in_force is expected, (action, target, now)
            answers[(action, target, now)] = expected
    # The cases are real: some grants are in force, some are not, and time changes the answer.
    assert answers[(m.CLIENT_DATA_ACCESS, "until-revoked", NOW)] is True
    assert answers[(m.CLIENT_DATA_ACCESS, "expires-now", NOW)] is False
    assert answers[(m.CLIENT_DATA_ACCESS, "expires-now", NOW - 2 * HOUR)] is True
    assert answers[(m.CLIENT_DATA_ACCESS, "revoked", NOW)] is False
    assert answers[(m.CLIENT_DATA_ACCESS, "one-of-two", NOW)] is True
    assert answers[(m.CLIENT_DATA_ACCESS, "other-action", NOW)] is False
