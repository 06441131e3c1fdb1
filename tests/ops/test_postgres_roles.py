"""Issue 19: deploy/postgres/roles.sql and grants.sql applied with psql, the app run as its LOGIN role.

Not a superuser (the other tests' connection), not ``SET ROLE`` from one: each
process logs in as its own role, as in production. The application tokenizes,
detokenizes and queues its audit events; the sequencer, as its own role,
integrates them and cuts a checkpoint; the log verifies. Then, as the
application and as the sequencer, the attacks on the log: UPDATE, DELETE and
TRUNCATE the audit tables, drop or disable their triggers, drop a table, switch
triggers off with ``session_replication_role``. Each is refused.

Roles are cluster-wide: each run uses its own names (the files' names with a
random suffix) and drops them at the end, so runs on the same server do not meet.
PostgreSQL only (SQLite has no roles).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from piivault.container import build_container
from tests.conftest import PG_URL, make_container, make_settings
from tests.ops.conftest import round_trip

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set PIIVAULT_TEST_DATABASE_URL"),
]

FILES = Path(__file__).resolve().parents[2] / "deploy" / "postgres"
ROLE = re.compile(r"\bpiivault_(owner|migrate|app|sequencer|auditor)\b")
SCHEMA = re.compile(r"\bpiivault\b(?!_)")


def _sql(name: str, suffix: str) -> str:
    text = (FILES / name).read_text(encoding="utf-8")
    return SCHEMA.sub(f"pvt_roles_{suffix}", ROLE.sub(lambda m: f"{m.group(0)}_{suffix}", text))


def _psql(url: sa.URL, sql: str) -> None:
    """As an operator would: psql with ON_ERROR_STOP, the file on standard input."""
    psql = shutil.which("psql")
    assert psql, "psql (Debian's postgresql-client) is needed for this test"
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
        input=sql,
        text=True,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def login():
    suffix = secrets.token_hex(4)
    admin_url = sa.make_url(PG_URL)
    _psql(admin_url, _sql("roles.sql", suffix))
    passwords = {role: secrets.token_urlsafe(16) for role in ("migrate", "app", "sequencer", "auditor")}
    admin = sa.create_engine(admin_url)
    with admin.begin() as conn:
        for role, password in passwords.items():
            conn.exec_driver_sql(f"ALTER ROLE piivault_{role}_{suffix} PASSWORD '{password}'")

    def url(role: str) -> sa.URL:
        return admin_url.set(username=f"piivault_{role}_{suffix}", password=passwords[role])

    try:
        yield suffix, url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS pvt_roles_{suffix} CASCADE")
            for role in ("migrate", "app", "sequencer", "auditor", "owner"):
                conn.exec_driver_sql(f"DROP OWNED BY piivault_{role}_{suffix}")
                conn.exec_driver_sql(f"DROP ROLE piivault_{role}_{suffix}")
        admin.dispose()


REFUSED = [
    "UPDATE audit_events SET actor = 'x'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "TRUNCATE audit_queue",
    "UPDATE audit_checkpoints SET note = 'x'",
    "DELETE FROM audit_checkpoints",
    "DELETE FROM audit_state",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "DROP TABLE audit_events",
    "SET session_replication_role = replica",
    "CREATE TABLE audit_shadow (x int)",
]


def _refused(engine: sa.Engine, statements: list[str]) -> None:
    for statement in statements:
        refused = pytest.raises(sa.exc.DBAPIError, match="permission denied|must be owner|not allowed")
        with refused, engine.begin() as conn:
            conn.exec_driver_sql(statement)


def _granted(login, bao, tmp_path, **overrides):
    """Migrated and bootstrapped as the migration role (tables owned by the owner), grants.sql
    applied: a function that builds a container logged in as one of the roles."""
    suffix, url = login
    migrate_url = url("migrate").render_as_string(hide_password=False)
    owner = make_container(make_settings(migrate_url, bao, tmp_path))
    settings = owner.settings
    owner.close()
    _psql(url("migrate"), _sql("grants.sql", suffix))

    def container_as(role: str):
        return build_container(
            settings.replace(
                database_url=url(role).render_as_string(hide_password=False),
                audit_sequence_inline=False,
                **overrides,
            )
        )

    return container_as


def test_the_app_runs_as_its_role_and_cannot_rewrite_the_audit_log(login, bao, tmp_path):
    _, url = login
    container_as = _granted(login, bao, tmp_path)
    app = container_as("app")
    try:
        with app.engine.connect() as conn:
            assert (
                conn.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar()
                is False
            )
        round_trip(app)
        _refused(
            app.engine,
            [
                *REFUSED,
                "INSERT INTO audit_events SELECT * FROM audit_events LIMIT 0",
                "DELETE FROM audit_queue",
            ],
        )
    finally:
        app.close()

    sequencer = container_as("sequencer")
    try:
        audit = sequencer.audit
        assert audit.sequence_pending() > 0
        checkpoint = audit.checkpoint_now()
        assert checkpoint.size == audit.size() > 0
        assert audit.verify().ok
        _refused(sequencer.engine, REFUSED)
    finally:
        sequencer.close()

    auditor = sa.create_engine(url("auditor"))
    try:
        with auditor.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar() == checkpoint.size
        _refused(auditor, ["INSERT INTO audit_queue (enqueued_at, payload) VALUES (now(), '{}')", *REFUSED])
    finally:
        auditor.dispose()


def test_the_app_gets_checkpoints_it_may_not_cut_from_the_sequencer_loop(login, bao, tmp_path):
    """POST /v1/audit/checkpoint as the app's role: it may not write the log (a direct cut is
    refused), so the sequencer loop, as its own role, cuts the checkpoint it asks for; with the
    loop stopped the answer is a 503 with Retry-After, not a 500."""
    from api.app import create_app
    from tests.api_tokens.conftest import bearer
    from tests.approved import create_client

    container_as = _granted(login, bao, tmp_path, audit_merge_delay=0.5)
    app, loop = container_as("app"), container_as("sequencer")
    stop = threading.Event()
    worker = threading.Thread(target=loop.audit.sequencer.run, args=(stop,), kwargs={"interval": 0.05})
    try:
        # The sequencer's own connection is psycopg's: its error, not SQLAlchemy's.
        with pytest.raises(Exception, match="permission denied for table audit_"):  # noqa: B017, PT011
            app.audit.checkpoint_now()
        _, key = create_client(app, name="auditors", role="auditor")
        http = create_app(app).test_client()
        worker.start()
        resp = http.post("/v1/audit/checkpoint", headers=bearer(key))
        assert resp.status_code == 201, resp.json
        assert resp.json["size"] == loop.audit.size() > 0
        stop.set()
        worker.join()
        resp = http.post("/v1/audit/checkpoint", headers=bearer(key))
        assert resp.status_code == 503 and resp.headers["Retry-After"]
        assert resp.json["type"].endswith("/audit_checkpoint_not_cut")
    finally:
        stop.set()
        if worker.is_alive():
            worker.join()
        app.close()
        loop.close()
