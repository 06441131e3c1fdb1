"""deploy/audit-grants.md, executed: the application role appends but cannot rewrite the log
or switch its triggers off. PostgreSQL only (SQLite has no roles)."""

from __future__ import annotations

import re
import secrets
import urllib.parse
from pathlib import Path

import pytest
import sqlalchemy as sa

from piivault.container import build_container
from tests.audit.conftest import append
from tests.conftest import PG_URL, make_container, make_settings

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set PIIVAULT_TEST_DATABASE_URL"),
]

DOC = Path(__file__).resolve().parents[2] / "deploy" / "audit-grants.md"
ROLES = ("piivault_owner", "piivault_app", "piivault_sequencer", "piivault_auditor")


def _grants_block() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"```sql\n-- grants: audit\n(.*?)```", text, re.S)
    assert match, "deploy/audit-grants.md lost its '-- grants: audit' block"
    return match.group(1)


@pytest.fixture
def roles(bao, tmp_path):
    suffix = secrets.token_hex(4)
    names = {role: f"{role}_{suffix}" for role in ROLES}
    schema = f"pvt_grants_{suffix}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {names['piivault_owner']} NOLOGIN")
        for role in ROLES[1:]:
            conn.exec_driver_sql(f"CREATE ROLE {names[role]} NOLOGIN")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema} AUTHORIZATION {names['piivault_owner']}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {', '.join(names[r] for r in ROLES[1:])}")

    def url(role: str) -> str:
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=" + urllib.parse.quote(f"-csearch_path={schema} -crole={names[role]}")

    try:
        yield names, url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            for role in names.values():
                conn.exec_driver_sql(f"DROP OWNED BY {role}")
                conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_the_application_role_appends_but_cannot_rewrite_or_unprotect(roles, bao, tmp_path):
    names, url = roles
    owner = make_container(make_settings(url("piivault_owner"), bao, tmp_path))
    transit_key = owner.settings.transit_key
    try:
        block = _grants_block()
        for role, name in names.items():
            block = block.replace(role, name)
        with owner.engine.begin() as conn:
            for statement in filter(None, (s.strip() for s in block.split(";"))):
                conn.exec_driver_sql(statement)
            # Other packages' grants (deploy/): the sequencer opens the sealed checkpoint key.
            conn.exec_driver_sql(
                f"GRANT SELECT ON vault_data_keys, vault_sealed_secrets TO {names['piivault_app']}"
            )
    finally:
        owner.close()

    app = build_container(make_settings(url("piivault_app"), bao, tmp_path, transit_key=transit_key))
    try:
        append(app, 5)  # queue, then sequence inline: INSERT, COPY, UPDATE head, DELETE queue rows
        assert app.audit.checkpoint_now().size == 5
        refused = [
            "UPDATE audit_events SET actor = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "DELETE FROM audit_checkpoints",
            "DELETE FROM audit_state",
            "UPDATE audit_state SET size = 0",
            "DROP TRIGGER audit_events_append_only ON audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "DROP TABLE audit_events",
            "SET session_replication_role = replica",
        ]
        for statement in refused:
            with pytest.raises(sa.exc.DBAPIError), app.engine.begin() as conn:
                conn.exec_driver_sql(statement)
        assert app.audit.verify().ok
    finally:
        app.close()

    auditor = sa.create_engine(url("piivault_auditor"))
    try:
        with auditor.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar() == 5
            with pytest.raises(sa.exc.DBAPIError):
                conn.exec_driver_sql("INSERT INTO audit_queue (enqueued_at, payload) VALUES (now(), '{}')")
    finally:
        auditor.dispose()
