"""Concurrent requests tokenizing the same value deterministically end with exactly one token;
requests that draw the same token end with one winner, and the others draw again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

import tokenization.tokenize as tokenize_module
from piivault.sql import RowsExist
from privacy import tables as pt
from tests.tokenization.conftest import queued_events, tokenize
from tokenization import tables as t
from tokenization.model import TokenizeItem
from tokenization.tokens import random_token
from vault import subject_owner
from vault import tables as vt

THREADS = 8
ROUNDS = 4


def race(container, items_for_round):
    barrier = threading.Barrier(THREADS)

    def one(_):
        barrier.wait()
        return tokenize(container, items_for_round).items

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def count(container, table, *where):
    with container.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


@pytest.fixture
def lost(monkeypatch) -> list[int]:
    """One entry for each insert that lost to a concurrent request's (RowsExist)."""
    lost: list[int] = []
    commit_insert = tokenize_module.commit_insert

    def observed(*args, **kwargs):
        try:
            return commit_insert(*args, **kwargs)
        except RowsExist:
            lost.append(1)
            raise

    monkeypatch.setattr(tokenize_module, "commit_insert", observed)
    return lost


def test_racing_standalone_deterministic_tokens(container, backend, lost):
    for round_ in range(ROUNDS):
        mobile = f"1391234{round_:04d}"
        results = race(container, [TokenizeItem("cn_mobile", mobile, kind="deterministic")])
        tokens = {r[0]["token"] for r in results}
        assert len(tokens) == 1
        (token,) = tokens
        assert count(container, t.tokens, t.tokens.c.token == token) == 1
    # No orphan owners from the requests that lost: one standalone owner (and key) per token.
    assert count(container, pt.subjects, pt.subjects.c.kind == "standalone") == ROUNDS
    assert count(container, vt.data_keys, vt.data_keys.c.owner.like("subject:std_%")) == ROUNDS
    if backend == "postgresql":
        # The race really happened: some requests lost an insert and redid their work.
        # (SQLite serializes writers with BEGIN IMMEDIATE, so there it cannot.)
        assert lost


def test_racing_a_new_subject_and_its_deterministic_token(container):
    for round_ in range(ROUNDS):
        subject = f"cust-race-{round_:04d}"
        items = [
            TokenizeItem("cn_mobile", "13912345678", subject, kind="deterministic"),
            TokenizeItem("email", f"r{round_}@example.com", subject, kind="deterministic"),
        ]
        results = race(container, items)
        assert len({tuple(r["token"] for r in result) for result in results}) == 1
        assert count(container, pt.subjects, pt.subjects.c.subject_id == subject) == 1
        assert count(container, t.tokens, t.tokens.c.subject_id == subject) == 2
        assert count(container, vt.data_keys, vt.data_keys.c.owner == subject_owner(subject)) == 1


def test_racing_requests_that_draw_the_same_token(container, monkeypatch, lost):
    """Every request's first draw is one token, as if drawn twice by chance, for a subject that
    exists (on PostgreSQL each request's insert and audit rows are one statement in autocommit):
    one request wins it, the others write nothing, draw again and win their own."""
    subject = "cust-draws-0001"
    tokenize(container, [TokenizeItem("name", "张三", subject)])  # the subject and its key
    shared = random_token("cn_mobile")
    drawn = threading.local()

    def draw(code):
        if getattr(drawn, "once", False):
            return random_token(code)
        drawn.once = True
        return shared

    monkeypatch.setattr(tokenize_module, "random_token", draw)
    before = len(queued_events(container))
    results = race(container, [TokenizeItem("cn_mobile", "13912345678", subject)])
    tokens = {r[0]["token"] for r in results}
    assert len(tokens) == THREADS and shared in tokens  # a token each, the shared one once
    assert len(lost) == THREADS - 1
    mobiles = t.tokens.c.field_type == "cn_mobile"
    assert count(container, t.tokens, t.tokens.c.subject_id == subject, mobiles) == THREADS
    assert len(queued_events(container)) - before == 2 * THREADS  # the subject's and the request's
