"""Pooled PostgreSQL connections are pinged before use only when they sat idle.

A ping at every checkout (``pool_pre_ping``) cost a round trip per request;
:func:`piivault.db.make_engine` pings a connection that was idle past
``ping_after_idle`` seconds, where a restart or a firewall is what kills them.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from piivault.db import make_engine
from tests.wire import backend_pid, terminate


@pytest.fixture
def pg_url(database_url: str, backend: str) -> str:
    if backend != "postgresql":
        pytest.skip("SQLite connections are files: nothing to ping")
    return database_url


def test_an_idle_connection_killed_in_the_pool_is_replaced_before_use(pg_url: str):
    engine = make_engine(pg_url, ping_after_idle=0, pool_size=1)
    try:
        dead = backend_pid(engine)
        terminate(pg_url, dead)
        # Checked out again: the ping finds it dead, the pool connects anew, the statement runs.
        assert backend_pid(engine) != dead
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(pg_url: str):
    # The same kill without the ping reaches the statement: proof that a recent
    # connection skips it (and what a request meets then: a database error, 503).
    engine = make_engine(pg_url, ping_after_idle=3600, pool_size=1)
    try:
        terminate(pg_url, backend_pid(engine))
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert backend_pid(engine)  # the pool discarded it: the next one works
    finally:
        engine.dispose()
