"""Fixtures for the tokenization services: the service on a real container, and callers."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from audit import tables as audit_tables
from piivault.container import Container
from tokenization.service import TokenizationService


@dataclasses.dataclass(frozen=True)
class Caller:
    """Stands in for ``api.auth.Principal``: the domain needs only these attributes."""

    client_id: str = "c-svc"
    role: str = "service"
    purposes: frozenset[str] = frozenset({"account_service", "aml_kyc", "risk_scoring", "marketing"})
    field_types: frozenset[str] | None = None


SERVICE = Caller()


@pytest.fixture
def svc(container: Container) -> TokenizationService:
    return container.tokenization


def queued_events(container: Container) -> list[str]:
    """The audit payloads written so far (queued, or already sequenced into the log)."""
    with container.session_factory() as s:
        queued = list(s.scalars(sa.select(audit_tables.queue.c.payload)))
        logged = list(s.scalars(sa.select(audit_tables.events.c.payload)))
    return queued + logged


@pytest.fixture
def vault_calls(container: Container, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts wrap/unwrap calls that reach the key provider (each may be several Transit chunks)."""
    calls = {"wrap": 0, "unwrap": 0}
    provider = container.keyring.provider
    for name in calls:
        original = getattr(provider, name)

        def counted(items, _original=original, _name=name):
            calls[_name] += 1
            return _original(items)

        monkeypatch.setattr(provider, name, counted)
    return calls


def tokenize(container: Container, items, caller=SERVICE, **kwargs):
    with container.uow() as uow:
        return container.tokenization.tokenize(uow, caller, items, **kwargs)


def detokenize(container: Container, purpose: str, tokens, caller=SERVICE, reveal: str = "plain"):
    with container.uow() as uow:
        return container.tokenization.detokenize(uow, caller, purpose, tokens, reveal)
