"""The container builds each service on first use; wiring between services holds whatever
was built first (issue 13).

Real database and OpenBao: a second container on the fixture's settings starts with
nothing built, the way a CLI command's does.
"""

from __future__ import annotations

from functools import cached_property

import pytest
import sqlalchemy as sa

from piivault.container import Container, build_container
from piivault.db import utcnow
from privacy import attributes
from privacy import tables as pt
from vault import subject_owner
from vault import tables as vt

SUBJECT = "cust-lazy-1"
OTHER = "cust-lazy-2"

# What a command may have used before a key is destroyed through the keyring.
BUILT_BEFORE = {
    "nothing": (),
    "clients": ("clients",),
    "users and audit": ("users", "audit"),
    "tokenization": ("tokenization",),
    "extracts": ("extracts",),
    "everything": ("clients", "users", "sessions", "consent", "tokenization", "extracts"),
}


def _attribute_rows(container: Container) -> set[str]:
    with container.session_factory() as s:
        return set(s.scalars(sa.select(pt.subject_attributes.c.subject_id)))


def _store_attributes(container: Container, *subject_ids: str) -> None:
    with container.session_factory() as s:
        keys = container.keyring.create_keys(s, [subject_owner(i) for i in subject_ids])
        attributes.store(s, keys, {i: {"credit_grade": "B"} for i in subject_ids}, utcnow())
        s.commit()


def test_services_are_built_once_with_what_they_need(settings):
    container = build_container(settings)
    try:
        assert not {"keyring", "audit", "clients", "extracts"} & vars(container).keys()
        clients = container.clients
        # The client store brought the keyring along, not the services above it.
        assert {"clients", "keyring"} <= vars(container).keys()
        assert not {"consent", "tokenization", "extracts"} & vars(container).keys()
        assert container.clients is clients
        assert container.build_all() is container
        assert container.extracts.keyring is container.keyring  # one keyring for all
        # A server's request threads build nothing: every service was built at start.
        services = {n for n, a in vars(Container).items() if isinstance(a, cached_property)}
        assert {"audit_sink", "group_commit", "read_only_sessions"} <= services
        assert services <= vars(container).keys()
    finally:
        container.close()


@pytest.mark.parametrize("built", BUILT_BEFORE.values(), ids=BUILT_BEFORE.keys())
def test_an_erasure_through_the_keyring_deletes_risk_attributes_whatever_was_built(
    container, settings, built
):
    """The keyring's destroy listener is wired when the keyring is built: shredding through a
    container that never built the extract service still deletes what was sealed under the key."""
    _store_attributes(container, SUBJECT, OTHER)
    fresh = build_container(settings)
    try:
        for name in built:
            getattr(fresh, name)
        with fresh.session_factory() as s:
            fresh.keyring.shred(s, SUBJECT, "test erasure")
            s.commit()
        assert _attribute_rows(fresh) == {OTHER}
    finally:
        fresh.close()


def test_a_replayed_erasure_deletes_restored_attributes_in_a_fresh_container(container, settings):
    """`keys replay-erasures` builds the keyring first: a restored row goes with the key again."""
    _store_attributes(container, SUBJECT)
    with container.session_factory() as s:
        backup_keys = [dict(r._mapping) for r in s.execute(sa.select(vt.data_keys))]
        backup_attributes = [dict(r._mapping) for r in s.execute(sa.select(pt.subject_attributes))]
        container.keyring.shred(s, SUBJECT, "test erasure")
        s.commit()
    with container.session_factory() as s:  # a backup from before the erasure comes back
        s.execute(vt.data_keys.delete())
        s.execute(vt.data_keys.insert(), backup_keys)
        s.execute(pt.subject_attributes.insert(), backup_attributes)
        s.commit()
    fresh = build_container(settings)
    try:
        with fresh.session_factory() as s:
            report = fresh.keyring.replay_erasures(s)
            s.commit()
        assert report.subject_ids == (SUBJECT,)
        assert _attribute_rows(fresh) == set()
    finally:
        fresh.close()
