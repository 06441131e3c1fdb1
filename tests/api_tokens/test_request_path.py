"""Issue 22: a detokenize reads its tokens, their keys, consent and the answer budget's lock in
one query, and on PostgreSQL outside any transaction of its own. What that must not change:
a lock-out refuses every request, a write in a read-only unit of work still fails, and the
audit record is committed before a value leaves (a database failure there is a 503 that
releases nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from audit import tables as audit_tables
from tests.api_tokens.conftest import CARD, bearer, customer_items
from tests.api_tokens.test_answer_budget import detokenize, guesses
from tests.consent.conftest import audit_payloads


def _real_card_token(client, service_key) -> str:
    tokenized = client.post("/v1/tokenize", json={"items": customer_items()}, headers=bearer(service_key))
    assert tokenized.status_code == 200
    return tokenized.json["items"][1]["token"]


def test_a_lock_out_refuses_hits_and_misses_alike_until_it_ends(container, client, service_key, make_key):
    real = _real_card_token(client, service_key)
    attacker = make_key("service", name="curious", purposes=["aml_kyc"])
    budget = container.tokenization.answer_budget
    assert detokenize(client, attacker, guesses(budget.limit + 1)).status_code == 429  # trips the lock

    # The lock is read with the token rows when a token exists, on its own when none does:
    # both refuse.
    assert detokenize(client, attacker, [real]).status_code == 429
    assert detokenize(client, attacker, guesses(1, seed=5)).status_code == 429
    assert detokenize(client, attacker, [real, *guesses(1, seed=6)]).status_code == 429

    # Once the lock has ended, the same hit is answered.
    now = budget.clock()
    budget.clock = lambda: now + budget.window + dt.timedelta(seconds=1)
    resp = detokenize(client, attacker, [real])
    assert resp.status_code == 200
    assert resp.json["items"] == [{"value": CARD}]


@pytest.mark.parametrize("others", [0, 20], ids=["keys-with-the-rows", "keys-in-a-query-of-their-own"])
def test_a_token_whose_key_row_is_gone_is_erased_not_opened(container, client, service_key, others):
    real = _real_card_token(client, service_key)
    from vault import tables as vt

    with container.session_factory.begin() as s:  # shredded without the subject's state recorded
        s.execute(vt.data_keys.delete().where(vt.data_keys.c.owner == "subject:cust-0001"))
    container.keyring.cache.clear()
    resp = detokenize(client, service_key, [real, *guesses(others, seed=7)])
    assert resp.status_code == 200
    assert resp.json["items"][0] == {"error": "erased", "reason": "erased"}
    assert [item["error"] for item in resp.json["items"][1:]] == ["not_found"] * others


@pytest.mark.parametrize("others", [0, 20], ids=["keys-with-the-rows", "keys-in-a-query-of-their-own"])
def test_a_value_is_opened_whether_its_key_came_with_its_row_or_not(client, service_key, others):
    real = _real_card_token(client, service_key)
    resp = detokenize(client, service_key, [*guesses(others, seed=8), real])
    assert resp.status_code == 200
    assert resp.json["items"][-1] == {"value": CARD}


def test_a_database_failure_at_the_audit_commit_is_a_503_and_releases_nothing(
    container, client, service_key, backend
):
    if backend != "postgresql":
        pytest.skip("group commit (the audit write on its own connection) is PostgreSQL's")
    real = _real_card_token(client, service_key)
    assert detokenize(client, service_key, [real]).status_code == 200  # the committer's connection is open
    group = container.group_commit
    assert group is not None and group._idle
    before = len(audit_payloads(container))
    # The database ends the committer's session (a restart, a failover): its next insert fails.
    pids = [conn.connection.dbapi_connection.info.backend_pid for conn in group._idle]
    with container.engine.begin() as conn:
        for pid in pids:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    resp = detokenize(client, service_key, [real])
    assert resp.status_code == 503
    assert int(resp.headers["Retry-After"]) >= 1
    assert CARD not in resp.get_data(as_text=True)  # no audit record, no value
    assert len(audit_payloads(container)) == before  # and nothing half-written

    again = detokenize(client, service_key, [real])  # a new connection: the next request is served
    assert again.status_code == 200 and again.json["items"] == [{"value": CARD}]
    assert len(audit_payloads(container)) == before + 1


def test_a_write_through_a_read_only_unit_of_work_fails_on_postgresql(container, backend):
    if backend != "postgresql":
        pytest.skip("read-only units of work are PostgreSQL's (group commit)")
    for _ in range(2):  # the first session, and the pool's next one
        with (
            container.uow(read_only=True) as uow,
            pytest.raises(sa.exc.DBAPIError, match="read-only transaction"),
        ):
            uow.session.execute(sa.delete(audit_tables.queue))
