"""Helpers for the audit log's database tests: appending, settings as environment, tampering."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from audit.events import AuditEvent
from audit.service import AuditLog
from piivault.container import Container
from piivault.settings import Settings

APPEND_ONLY = ("audit_events", "audit_nodes", "audit_checkpoints")


@pytest.fixture
def audit_log(container: Container) -> AuditLog:
    return container.audit


def event(i: int, **overrides: object) -> AuditEvent:
    fields: dict[str, object] = {
        "action": "detokenize",
        "actor": "crm",
        "subject_id": f"sub-{i % 5}",
        "purpose": "aml_kyc",
        "field_types": ("cn_mobile",),
        "request_id": f"req-{i}",
        "details": {"n": i},
    }
    fields.update(overrides)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def append(container: Container, count: int, start: int = 0, **overrides: object) -> None:
    """``count`` units of work, each recording one event and committing."""
    for i in range(start, start + count):
        with container.uow() as uow:
            uow.record(event(i, **overrides))
            uow.commit()


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``PIIVAULT_*`` environment that reproduces ``settings`` (for the CLI and child processes)."""
    def text(value: object) -> str:
        return ",".join(value) if isinstance(value, tuple) else str(value)  # list settings

    return {f"PIIVAULT_{name}": text(value) for name, value in settings.values.items() if value is not None}


@contextlib.contextmanager
def tampering(container: Container) -> Iterator[sa.Connection]:
    """A connection on which the append-only triggers do not fire, as an operator with
    database superuser rights could arrange. Commits on success."""
    engine = container.engine
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            triggers = conn.execute(
                sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit%'")
            ).all()
            for name, _ in triggers:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            yield conn
            for _, sql in triggers:
                conn.exec_driver_sql(sql)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            yield conn


def scalar(container: Container, sql: str, **params: object) -> object:
    with container.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()
