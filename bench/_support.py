"""Helpers shared by the benchmark scripts: a throw-away PostgreSQL schema, a fresh container."""

from __future__ import annotations

import contextlib
import os
import secrets
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from piivault import migrate
from piivault.bootstrap import bootstrap
from piivault.container import Container, build_container
from piivault.devbao import BaoServer
from piivault.settings import Settings

PG_URL = os.environ.get("PIIVAULT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose search_path is a new schema, dropped on exit."""
    schema = "bench_" + secrets.token_hex(6)
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=" + urllib.parse.quote(f"-csearch_path={schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def fresh_container(env: dict[str, str]) -> Container:
    """A migrated, bootstrapped container for ``env`` (PIIVAULT_* variables)."""
    container = build_container(Settings.from_env(env))
    migrate.upgrade(container.engine)
    bootstrap(container)
    return container


def bench_env(bao: BaoServer, workdir: Path) -> dict[str, str]:
    """PIIVAULT_* settings for a bench against ``bao``, minus the database URL."""
    return {
        "PIIVAULT_ENV": "test",
        "PIIVAULT_VAULT_ADDR": bao.addr,
        "PIIVAULT_VAULT_TOKEN": bao.token,
        "PIIVAULT_TRANSIT_KEY": "bench-" + secrets.token_hex(4),
        "PIIVAULT_ERASURE_LEDGER": str(workdir / "ledger.jsonl"),
        "PIIVAULT_LOG_LEVEL": "warning",
    }


def production_settings(work: Path) -> dict[str, str]:
    """What production requires besides Vault and the database (``piivault check`` names each),
    for a bench's workers: ``PIIVAULT_ENV=production`` and the controller's particulars."""
    return {
        "PIIVAULT_ENV": "production",
        "PIIVAULT_EXTRACT_DIR": str(work / "extracts"),
        "PIIVAULT_CONTROLLER_NAME": "Bench Bank",
        "PIIVAULT_CONTROLLER_CONTACT": "DPO",
        "PIIVAULT_CONTROLLER_ADDRESS": "1 Bench Road",
        "PIIVAULT_CONTROLLER_EMAIL": "dpo@bench.example",
        "PIIVAULT_CONTROLLER_PHONE": "+86 21 0000 0000",
        "PIIVAULT_PRIVACY_POLICY_URL": "https://bench.example/privacy",
    }
