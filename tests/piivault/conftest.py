"""Fixtures of the piivault package's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from piivault.db import make_engine


@pytest.fixture
def psycopg_engine(database_url: str, backend: str) -> Iterator[sa.Engine]:
    """An engine of one pooled connection on PostgreSQL (psycopg); skips the SQLite run, for
    what only psycopg does (piivault.direct, the binary arrays of piivault.db)."""
    if backend != "postgresql":
        pytest.skip("psycopg's alone: on SQLite the Core path runs, tested with the callers")
    engine = make_engine(database_url, ping_after_idle=3600, pool_size=1)
    yield engine
    engine.dispose()
