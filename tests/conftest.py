"""Shared fixtures: a real OpenBao server, and databases on SQLite and PostgreSQL.

PostgreSQL runs when PIIVAULT_TEST_DATABASE_URL is set (``.ci/run`` sets it);
each test gets its own schema there, and its own file on SQLite.
"""

from __future__ import annotations

import logging
import os
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from piivault import migrate
from piivault.bootstrap import bootstrap
from piivault.container import Container, build_container
from piivault.devbao import BaoServer, start_ephemeral
from piivault.settings import Settings
from tests import pii

PG_URL = os.environ.get("PIIVAULT_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(scope="session", autouse=True)
def pii_registry() -> Iterator[pii.Registry]:
    """Collect the PII values the tests use and the log records they cause (tests/pii.py)."""
    logging.getLogger().addHandler(pii.LOGS)
    with pii.capturing() as registry:
        yield registry
    logging.getLogger().removeHandler(pii.LOGS)


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """One OpenBao dev server for the session; tests use their own Transit keys."""
    server = start_ephemeral(tmp_path_factory.mktemp("bao"))
    yield server
    server.stop()


@pytest.fixture
def private_bao(tmp_path: Path) -> Iterator[BaoServer]:
    """An OpenBao server this test may stop."""
    server = start_ephemeral(tmp_path / "bao")
    yield server
    server.stop()


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=" + urllib.parse.quote(f"-csearch_path={schema}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'piivault.db'}"
        return
    schema = "pvt_" + secrets.token_hex(6)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_settings(database_url: str, bao: BaoServer, tmp_path: Path, **overrides: object) -> Settings:
    env = {
        "PIIVAULT_ENV": "test",
        "PIIVAULT_DATABASE_URL": database_url,
        "PIIVAULT_VAULT_ADDR": bao.addr,
        "PIIVAULT_VAULT_TOKEN": bao.token,
        "PIIVAULT_TRANSIT_KEY": "kek-" + secrets.token_hex(4),
        "PIIVAULT_ERASURE_LEDGER": str(tmp_path / "erasure-ledger.jsonl"),
    }
    return Settings.from_env(env, **overrides)


@pytest.fixture
def settings(database_url: str, bao: BaoServer, tmp_path: Path) -> Settings:
    return make_settings(database_url, bao, tmp_path)


def make_container(settings: Settings) -> Container:
    container = build_container(settings)
    migrate.upgrade(container.engine)
    bootstrap(container)
    return container


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    """A migrated database and a bootstrapped KEK on the session's OpenBao."""
    c = make_container(settings)
    log_mark = pii.start_test()
    yield c
    try:
        pii.check_after_test(c.engine, log_mark)  # issue 3: no PII in the audit tables or logs
    finally:
        c.close()


@pytest.fixture
def backend(database_url: str) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"
