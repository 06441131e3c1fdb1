"""Imports every package's table module so ``metadata`` knows all tables."""

from __future__ import annotations

import importlib

import sqlalchemy as sa

TABLE_MODULES = (
    "vault.tables",
    "audit.tables",
    "privacy.tables",
    "tokenization.tables",
    "identity.clients.tables",
    "access.tables",
    "consent.tables",
    "identity.users.tables",
    "anonymize.extract.tables",
    "throttle.counters",
)


def load() -> sa.MetaData:
    from piivault.db import metadata

    for name in TABLE_MODULES:
        importlib.import_module(name)
    return metadata
