"""Which database URLs make an engine: PostgreSQL through psycopg only (the checks a writer's
statement carries are psycopg's), with ``postgresql://`` taken to mean it."""

from __future__ import annotations

import pytest

from piivault.db import make_engine
from piivault.errors import ConfigurationError


def test_a_plain_postgresql_url_means_psycopg():
    engine = make_engine("postgresql://piivault@db.example/piivault")
    try:
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", ["psycopg2", "pg8000", "asyncpg"])
def test_another_postgresql_driver_is_refused_by_name(driver):
    with pytest.raises(ConfigurationError, match=f"psycopg \\(postgresql\\+psycopg://\\), not {driver}"):
        make_engine(f"postgresql+{driver}://piivault@db.example/piivault")
