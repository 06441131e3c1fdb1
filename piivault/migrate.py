"""Run Alembic migrations programmatically (``piivault db upgrade``)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def target_metadata() -> sa.MetaData:
    """The metadata with every package's tables registered."""
    from piivault import tables_registry

    return tables_registry.load()


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine, revision: str = "heads") -> None:
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(_config(conn), revision)


def current_revisions(engine: sa.Engine) -> frozenset[str]:
    """Revisions the database is at: the one head once migrated (several only below ``0014_one_head``)."""
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def head_revisions() -> frozenset[str]:
    """Heads of the migration tree: one; a new revision follows it (tests/piivault/test_migrations.py)."""
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())
