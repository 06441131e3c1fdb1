"""Migration 0006_console creates exactly the tables ``identity.users.tables`` declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from identity.users import tables as ct
from piivault import migrate

CONSOLE_TABLES = {t.name for t in (ct.users, ct.sessions, ct.lockouts)}


def test_the_migration_matches_the_table_definitions(container):
    metadata = migrate.target_metadata()
    with container.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)

    def table_of(entry) -> str | None:
        for item in entry if isinstance(entry, list) else [entry]:
            for part in item[1:]:
                name = getattr(part, "name", None) if not isinstance(part, str) else part
                table = getattr(part, "table", None)
                if table is not None and table.name in CONSOLE_TABLES:
                    return table.name
                if name in CONSOLE_TABLES:
                    return name
        return None

    assert [d for d in diff if table_of(d)] == []
    assert set(sa.inspect(container.engine).get_table_names()) >= CONSOLE_TABLES


def test_downgrade_removes_the_console_tables(container):
    migrate.downgrade(container.engine, "0006_console")  # out of 0014_one_head, which joins it to the others
    migrate.downgrade(container.engine, "0006_console@-1")
    assert not CONSOLE_TABLES & set(sa.inspect(container.engine).get_table_names())
    migrate.upgrade(container.engine)
    assert set(sa.inspect(container.engine).get_table_names()) >= CONSOLE_TABLES
