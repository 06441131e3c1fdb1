"""The migration tree: one head, numbers in the order revisions apply, every step runnable.

Runs against SQLite, and PostgreSQL too when ``PIIVAULT_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import Script, ScriptDirectory

from piivault import migrate
from piivault.db import make_engine

HEAD = "0014_one_head"
# Written in parallel and deployed under these ids (alembic_version holds them), so kept.
# No other number may repeat.
REPEATED_NUMBERS = {"0003": {"0003_audit_log", "0003_clients"}}

SCRIPTS = ScriptDirectory.from_config(migrate._config())
REVISIONS = [s.revision for s in SCRIPTS.walk_revisions()]


def _parents(script: Script) -> tuple[str, ...]:
    down = script.down_revision
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def _number(revision: str) -> str:
    match = re.fullmatch(r"(\d{4})_[a-z0-9_]+", revision)
    assert match, f"revision id {revision!r} is not NNNN_name"
    return match.group(1)


# The heads before 0014_one_head: where a database migrated until then stands.
OLD_HEADS = _parents(SCRIPTS.get_revision(HEAD))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


# -- the tree ------------------------------------------------------------------
def test_the_tree_has_exactly_one_head_and_one_base():
    assert SCRIPTS.get_heads() == [HEAD]
    assert migrate.head_revisions() == {HEAD}
    assert SCRIPTS.get_bases() == ["0001_vault"]


def test_no_two_revisions_share_a_number_but_the_recorded_pair():
    by_number: dict[str, set[str]] = {}
    for revision in REVISIONS:
        by_number.setdefault(_number(revision), set()).add(revision)
    repeated = {n: revs for n, revs in by_number.items() if len(revs) > 1}
    assert repeated == REPEATED_NUMBERS


def test_a_revisions_number_is_above_every_revision_it_follows():
    for script in SCRIPTS.walk_revisions():
        for parent in _parents(script):
            assert _number(parent) < _number(script.revision), (script.revision, parent)


def test_file_names_and_docstrings_say_the_real_ids_and_parents():
    for script in SCRIPTS.walk_revisions():
        assert Path(script.path).stem == script.revision
        doc = script.module.__doc__
        assert f"Revision ID: {script.revision}\n" in doc
        revises = re.search(r"^Revises: ?(.*)$", doc, re.MULTILINE)
        assert revises, script.revision
        named = [r.strip() for r in revises.group(1).split(",") if r.strip()]
        assert named == list(_parents(script)), script.revision


# -- running it ----------------------------------------------------------------
@pytest.mark.parametrize("revision", REVISIONS)
def test_each_revision_upgrades_an_empty_database_with_only_what_it_follows(engine, revision):
    """A revision that used a table from another branch would fail here (PostgreSQL checks references)."""
    migrate.upgrade(engine, revision)
    assert migrate.current_revisions(engine) == {revision}


def test_a_database_at_the_six_old_heads_upgrades_to_the_one_head_unchanged(engine):
    assert len(OLD_HEADS) == 6
    for head in OLD_HEADS:
        migrate.upgrade(engine, head)
    assert migrate.current_revisions(engine) == set(OLD_HEADS)
    before = _tables(engine)

    migrate.upgrade(engine)

    assert migrate.current_revisions(engine) == {HEAD}
    assert _tables(engine) == before


def test_downgrade_to_empty_and_upgrade_again(engine):
    migrate.upgrade(engine)
    tables = _tables(engine)
    assert {"audit_events", "api_clients", "tokenization_subjects", "throttle_counters"} <= tables

    migrate.downgrade(engine, "0013_audit_macs")  # one parent: unapplies the merge alone
    assert migrate.current_revisions(engine) == set(OLD_HEADS)
    migrate.downgrade(engine, "base")
    assert _tables(engine) == set()
    assert migrate.current_revisions(engine) == set()

    migrate.upgrade(engine)
    assert migrate.current_revisions(engine) == {HEAD}
    assert _tables(engine) == tables
