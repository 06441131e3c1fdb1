"""One local Spark session for the whole test session: the JVM takes seconds to start."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    from anonymize.extract.spark import spark_session

    session = spark_session("local[2]")
    # Tiny tables: a handful of shuffle partitions instead of 200 empty tasks.
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()
