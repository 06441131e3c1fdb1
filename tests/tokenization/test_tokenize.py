"""Tokenize: batches, kinds, subjects, sealing, audit and idempotency, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import pytest
import sqlalchemy as sa

import tokenization.tokenize as tokenize_module
from fieldtypes.checksums import GB11643, LUHN
from privacy import tables as pt
from tests.erasing import erase_subject
from tests.tokenization.conftest import SERVICE, Caller, queued_events, tokenize
from tests.wire import statements, traced
from tokenization import tables as t
from tokenization.errors import BatchTooLarge, IdempotencyConflict, InvalidRequest, NotPermitted
from tokenization.model import TokenizeItem
from tokenization.tokens import DeterministicScope, random_token
from vault import Binding, VaultUnavailable, subject_owner

ID_NUMBER = GB11643.complete("11010519900307123")
CARD = LUHN.complete("622202020011234567")
MOBILE = "13812345678"
VALUES = (ID_NUMBER, CARD, MOBILE, "张三", "zhang.san@example.com")


def rows(container, table=t.tokens):
    with container.session_factory() as s:
        return s.execute(sa.select(table)).mappings().all()


def test_a_batch_gets_a_token_or_an_error_per_item(container):
    items = [
        TokenizeItem("cn_resident_id", ID_NUMBER.lower(), "cust-0001"),
        TokenizeItem("cn_mobile", "+86 138-1234-5678", "cust-0001"),
        TokenizeItem("bank_card", CARD[:-1] + str((int(CARD[-1]) + 1) % 10), "cust-0001"),
        TokenizeItem("no_such_type", "x"),
        TokenizeItem("email", "zhang.san@example.com", "cust-0002", kind="sideways"),
        TokenizeItem("name", "张三", "bad id!"),
        TokenizeItem("name", "张三"),
        TokenizeItem("name", "张三", MOBILE),
        TokenizeItem("name", "张三", ID_NUMBER),
    ]
    result = tokenize(container, items)
    assert not result.replayed
    out = result.items
    assert len(out) == len(items)
    assert re.fullmatch(r"tok_rid_[a-z2-7]{26}", out[0]["token"])
    assert re.fullmatch(r"tok_mob_[a-z2-7]{26}", out[1]["token"])
    assert out[2] == {"error": {"rule": "luhn", "message": "Luhn check digit does not match"}}
    assert out[3]["error"]["rule"] == "field_type"
    assert out[4]["error"]["rule"] == "kind"
    assert out[5]["error"]["rule"] == "subject_id"
    assert re.fullmatch(r"tok_name_[a-z2-7]{26}", out[6]["token"])
    assert out[7]["error"]["rule"] == out[8]["error"]["rule"] == "subject_id"  # PII as an id: refused
    assert len(rows(container)) == 3
    text = json.dumps(out, ensure_ascii=False)
    assert not any(v in text for v in (CARD[:-1], "zhang.san", "张三"))


def test_values_are_sealed_bound_to_owner_field_type_and_token(container):
    out = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, "cust-0001")]).items
    token = out[0]["token"]
    (row,) = rows(container)
    assert row["token"] == token and row["subject_id"] == "cust-0001" and row["kind"] == "random"
    sealed = bytes(row["sealed"])
    assert MOBILE.encode() not in sealed
    with container.session_factory() as s:
        key = container.keyring.subject_key(s, "cust-0001")
    assert key.open(sealed, Binding("cust-0001", "cn_mobile", token)) == MOBILE.encode()
    with pytest.raises(Exception, match="could not be opened"):
        key.open(sealed, Binding("cust-0001", "cn_mobile", "tok_other"))


def test_no_value_is_stored_or_audited_in_clear(container, backend):
    items = [
        TokenizeItem(ft, v, "cust-0001")
        for ft, v in zip(("cn_resident_id", "bank_card", "cn_mobile", "name", "email"), VALUES, strict=True)
    ]
    tokenize(container, items)
    tokenize(container, [dataclasses.replace(i, kind="deterministic", subject_id=None) for i in items])
    dump = []
    with container.session_factory() as s:
        for table in (t.tokens, pt.subjects):
            for row in s.execute(sa.select(table)).all():
                dump.extend(
                    bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v) for v in row
                )
    dump.extend(queued_events(container))
    text = "\n".join(dump)
    for value in VALUES:
        assert value not in text


def test_new_subjects_get_their_keys_in_one_wrap_call(container, vault_calls):
    tokenize(container, [TokenizeItem("name", "张三", "cust-warm")])  # creates the system keys
    vault_calls.update(wrap=0, unwrap=0)
    items = [TokenizeItem("cn_mobile", MOBILE, f"cust-{i:04d}") for i in range(300)]
    items += [TokenizeItem("name", "李四") for _ in range(5)]  # standalone: their owners too
    out = tokenize(container, items).items
    assert all("token" in r for r in out)
    assert vault_calls == {"wrap": 1, "unwrap": 0}
    with container.session_factory() as s:
        kinds = dict(
            s.execute(sa.select(pt.subjects.c.kind, sa.func.count()).group_by(pt.subjects.c.kind)).all()
        )
    assert kinds == {"subject": 301, "standalone": 5}
    # Known subjects, keys cached: no Vault call at all.
    tokenize(container, [TokenizeItem("email", "a@example.com", f"cust-{i:04d}") for i in range(300)])
    assert vault_calls == {"wrap": 1, "unwrap": 0}
    # Cold cache: one unwrap call for all of them.
    container.keyring.cache.clear()
    tokenize(container, [TokenizeItem("email", "b@example.com", f"cust-{i:04d}") for i in range(300)])
    assert vault_calls["unwrap"] == 1  # the system keys and every subject's key together


def test_subjects_states_and_keys_take_one_statement_whether_all_new_or_all_known(container, svc, backend):
    # The subjects' states come with their data keys and the tokenization secrets (issue 22):
    # one SELECT; only new subjects take more (their insert, then the keyring's create_keys).
    # On PostgreSQL the SELECT runs on the driver (piivault.direct): counted all the same.
    def touching(seen: list[tuple[str, str]]) -> list[str]:
        return [s.split()[0] for _, s in seen if "tokenization_subjects" in s or "vault_data_keys" in s]

    tokenize(container, [TokenizeItem("name", "张三", "cust-warm")])  # creates the system keys
    new_subjects = ["SELECT", "INSERT", "SELECT", "INSERT"]
    with statements(container.engine) as seen:
        new = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, f"cust-{i:04d}") for i in range(3)])
    assert touching(seen) == new_subjects
    with statements(container.engine) as seen:
        tokenize(container, [TokenizeItem("email", "a@example.com", f"cust-{i:04d}") for i in range(3)])
    # On PostgreSQL every key cached: no read, the write checks states and keys (a guarded WITH).
    assert touching(seen) == (["WITH"] if backend == "postgresql" else ["SELECT"])
    container.keyring.cache.clear()
    with statements(container.engine) as seen:
        tokenize(container, [TokenizeItem("email", "c@example.com", f"cust-{i:04d}") for i in range(3)])
    # The read; on PostgreSQL the write checks the states read (a guarded WITH).
    assert touching(seen) == (["SELECT", "WITH"] if backend == "postgresql" else ["SELECT"])
    erase_subject(container, "cust-0000", actor="dpo:test")
    with statements(container.engine) as seen:
        # New, known and erased together: the erased one is read, not created again.
        out = tokenize(
            container, [TokenizeItem("name", "李四", sid) for sid in ("cust-0000", "cust-0001", "cust-0009")]
        ).items
    assert all("token" in r for r in new.items)
    # On PostgreSQL the transaction then checks the state read of the one known before (locked).
    assert touching(seen) == new_subjects + (["SELECT"] if backend == "postgresql" else [])
    assert [r.get("error", {}).get("rule") for r in out] == ["subject_erased", None, None]


@pytest.mark.parametrize("cached", [False, True], ids=["keys-read", "keys-cached"])
def test_a_single_tokenize_of_a_known_subject_is_two_statements_or_one_and_no_transaction(
    container, backend, cached
):
    """Issue 22: the subject's state and key with the tokenization secrets (one read, on the driver:
    piivault.direct), then the token's insert and the audit events' insert as ONE statement; each
    in autocommit, so no BEGIN or COMMIT, and the server is never left inside a transaction. With
    every key in the cache there is no read: the write checks the state and the keys itself."""
    if backend != "postgresql":
        pytest.skip("the driver's own read is psycopg's")
    # Events left queued: no sequencer after the commit, whose connections would count here.
    container.settings = container.settings.replace(audit_sequence_inline=False)
    tokenize(container, [TokenizeItem("name", "张三", "cust-0001")])  # the subject, its key, the secrets
    if not cached:
        container.keyring.cache.clear()
    before = queued_events(container)
    with traced(container.engine) as wire, statements(container.engine) as seen:
        out = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, "cust-0001")])
    assert "token" in out.items[0]
    assert wire.queries() == []  # no BEGIN, no COMMIT
    assert wire.executions() == (1 if cached else 2)
    assert wire.transaction_states() == {"I"}
    expected = [("driver", "WITH")] if cached else [("driver", "SELECT"), ("driver", "WITH")]
    assert [(by, sql.split()[0]) for by, sql in seen] == expected
    if not cached:
        assert "UNION ALL" in seen[0][1]  # the subjects' states and the keys, together
    write = seen[-1][1]
    assert write.index("INSERT INTO tokenization_tokens") < write.index("INSERT INTO audit_queue")
    assert "FOR SHARE" in write  # the check of the state read: the subject's row locked
    assert ("vault_data_keys" in write) is cached  # and of the cached keys
    assert out.items[0]["token"] in {r["token"] for r in rows(container)}
    written = [json.loads(p) for p in queued_events(container) if p not in before]
    assert len(written) == 2
    assert {(e["action"], e.get("subject_id")) for e in written} == {
        ("tokenize", None),  # the request's
        ("tokenize", "cust-0001"),
    }


def test_a_drawn_token_taken_meanwhile_writes_nothing_and_is_drawn_again(container, monkeypatch):
    """The token's insert fails on the taken key (on PostgreSQL inside the one statement that also
    queues the audit events): the first attempt leaves no row and no event, the second both."""
    first = tokenize(container, [TokenizeItem("cn_mobile", MOBILE, "cust-0001")]).items[0]["token"]
    (held,) = rows(container)
    draws = iter([first])  # the next draw is the token that exists, then fresh ones
    monkeypatch.setattr(tokenize_module, "random_token", lambda code: next(draws, None) or random_token(code))
    before = queued_events(container)
    out = tokenize(container, [TokenizeItem("cn_mobile", "13900001111", "cust-0001")]).items[0]
    assert out["token"] != first and next(draws, None) is None
    assert {r["token"]: r for r in rows(container)}[first] == held  # untouched
    assert len(rows(container)) == 2
    assert len([p for p in queued_events(container) if p not in before]) == 2  # one attempt audited


def test_each_standalone_token_has_its_own_erasable_owner(container):
    out = tokenize(container, [TokenizeItem("name", "王五"), TokenizeItem("name", "王五")]).items
    owners = {r["subject_id"] for r in rows(container)}
    assert len(owners) == 2 and all(o.startswith("std_") for o in owners)
    with container.session_factory() as s:
        keys = container.keyring.data_keys(s, [subject_owner(o) for o in owners])
    assert len(keys) == 2
    assert out[0]["token"] != out[1]["token"]


def test_explicit_and_implicit_subjects(container, svc):
    with container.uow() as uow:
        created = svc.create_subject(uow, SERVICE)
    sid = created["subject_id"]
    assert re.fullmatch(r"sub_[a-z2-7]{26}", sid) and created["state"] == "active"
    tokenize(
        container,
        [
            TokenizeItem("cn_mobile", MOBILE, sid),
            TokenizeItem("cn_mobile", "13900001111", sid),
            TokenizeItem("name", "张三", sid),
            TokenizeItem("name", "张三", "cust-implicit"),
        ],
    )
    with container.uow() as uow:
        info = svc.subject_info(uow, SERVICE, sid)
    assert info["token_count"] == 3 and info["field_types"] == {"cn_mobile": 2, "name": 1}
    with container.uow() as uow:
        assert svc.subject_info(uow, SERVICE, "cust-implicit")["token_count"] == 1


def test_deterministic_tokens_within_a_subject(container):
    same = [
        TokenizeItem("cn_mobile", "138 1234 5678", "cust-0001", kind="deterministic"),
        TokenizeItem("cn_mobile", "+8613812345678", "cust-0001", kind="deterministic"),
        TokenizeItem("cn_mobile", "0086-138-1234-5678", "cust-0001", kind="deterministic"),
    ]
    first = tokenize(container, same).items
    again = tokenize(container, same[:1]).items
    other = tokenize(container, [dataclasses.replace(same[0], subject_id="cust-0002")]).items
    standalone = tokenize(container, [dataclasses.replace(same[0], subject_id=None)] * 2).items
    tokens = {r["token"] for r in first}
    assert len(tokens) == 1 and again[0]["token"] in tokens
    assert re.fullmatch(r"tkd_mob_[a-z2-7]{26}", again[0]["token"])
    assert other[0]["token"] not in tokens
    assert standalone[0]["token"] == standalone[1]["token"] not in tokens | {other[0]["token"]}
    assert len(rows(container)) == 3


def test_global_scope_makes_deterministic_tokens_stand_alone(container, svc, monkeypatch):
    monkeypatch.setattr(svc, "deterministic_scope", DeterministicScope.GLOBAL)
    out = tokenize(
        container,
        [
            TokenizeItem("email", "a@example.com", kind="deterministic"),
            TokenizeItem("email", "a@EXAMPLE.com", kind="deterministic"),
            TokenizeItem("email", "a@example.com", "cust-0001", kind="deterministic"),
        ],
    ).items
    assert out[0]["token"] == out[1]["token"]
    assert out[2]["error"]["rule"] == "scope"


def test_format_preserving_tokens_in_a_batch(container):
    items = [TokenizeItem("bank_card", CARD, f"cust-{i:04d}", kind="format_preserving") for i in range(50)]
    items += [
        TokenizeItem("cn_resident_id", ID_NUMBER, "cust-0001", kind="format_preserving", keep_ends=False)
    ]
    items += [TokenizeItem("name", "张三", kind="format_preserving")]
    out = tokenize(container, items).items
    cards = [r["token"] for r in out[:50]]
    assert len(set(cards)) == 50
    assert all(c[-4:] == CARD[-4:] and LUHN.is_valid(c) and c != CARD for c in cards)
    assert sum(c[:6] == CARD[:6] for c in cards) <= 1  # the BIN is drawn too (issue 14, item 4a)
    assert len(out[50]["token"]) == 18 and out[50]["token"] != ID_NUMBER
    assert out[51]["error"]["rule"] == "kind"
    assert {r["kind"] for r in rows(container)} == {"format_preserving"}


def test_a_format_preserving_draw_taken_in_the_same_batch_is_drawn_again(container, monkeypatch):
    import tokenization.tokenize as tokenize_module

    first, second = LUHN.complete("622202111111111111"), LUHN.complete("622202222222222222")
    draws = iter([first, first, second])
    monkeypatch.setattr(tokenize_module, "format_preserving_token", lambda *a, **k: next(draws))
    out = tokenize(
        container,
        [
            TokenizeItem("bank_card", CARD, "cust-0001", kind="format_preserving"),
            TokenizeItem(
                "bank_card", LUHN.complete("622202888888888888"), "cust-0002", kind="format_preserving"
            ),
        ],
    ).items
    assert [r["token"] for r in out] == [first, second]
    assert {r["token"]: r["subject_id"] for r in rows(container)} == {first: "cust-0001", second: "cust-0002"}


def test_blind_index_lookup_finds_the_tokens_holding_a_value(container, svc):
    out = tokenize(
        container,
        [
            TokenizeItem("cn_mobile", MOBILE, "cust-0001"),
            TokenizeItem("cn_mobile", "+86 " + MOBILE, "cust-0002", kind="deterministic"),
            TokenizeItem("cn_mobile", MOBILE),
            TokenizeItem("cn_mobile", "13900001111", "cust-0001"),
        ],
    ).items
    with container.uow() as uow:
        found = svc.lookup(uow, SERVICE, "cn_mobile", "138-1234-5678", purpose="account_service")
    assert sorted(f["token"] for f in found) == sorted(r["token"] for r in out[:3])
    assert {f["subject_id"] for f in found} == {"cust-0001", "cust-0002", None}
    with container.uow() as uow:
        assert svc.lookup(uow, SERVICE, "cn_mobile", "13700000000", purpose="account_service") == []
    with container.uow() as uow, pytest.raises(InvalidRequest) as e:
        svc.lookup(uow, SERVICE, "cn_mobile", "12345", purpose="account_service")
    assert "12345" not in e.value.message
    with container.uow() as uow, pytest.raises(NotPermitted):
        svc.lookup(uow, Caller(role="analyst"), "cn_mobile", MOBILE, purpose="account_service")


def test_audit_one_event_per_subject_and_one_per_request(container):
    tokenize(
        container,
        [
            TokenizeItem("cn_mobile", MOBILE, "cust-0001"),
            TokenizeItem("name", "张三", "cust-0001"),
            TokenizeItem("name", "李四", "cust-0002"),
            TokenizeItem("name", "王五"),
            TokenizeItem("email", "nope"),
        ],
        request_id="req-7",
    )
    events = [json.loads(p) for p in queued_events(container)]
    per_subject = {e["subject_id"]: e for e in events if e["subject_id"]}
    assert per_subject["cust-0001"]["field_types"] == ["cn_mobile", "name"]
    assert per_subject["cust-0001"]["details"] == {"tokens": 2, "subject_created": True}
    assert per_subject["cust-0002"]["field_types"] == ["name"]
    (summary,) = [e for e in events if e["subject_id"] is None]
    assert summary["details"]["items"] == 5 and summary["details"]["rejected"] == 1
    assert summary["details"]["standalone"] == 1
    assert {e["request_id"] for e in events} == {"req-7"}
    assert {e["actor"] for e in events} == {"client:c-svc"}


def test_limits_and_roles(container):
    with pytest.raises(BatchTooLarge):
        tokenize(container, [TokenizeItem("name", "张三")] * 1001)
    for role in ("analyst", "auditor", "admin", "dpo"):
        with pytest.raises(NotPermitted):
            tokenize(container, [TokenizeItem("name", "张三")], caller=Caller(role=role))
    restricted = Caller(field_types=frozenset({"name"}))
    out = tokenize(
        container, [TokenizeItem("name", "张三"), TokenizeItem("email", "a@b.cn")], caller=restricted
    )
    assert "token" in out.items[0] and out.items[1]["error"]["rule"] == "field_type_not_allowed"


def test_idempotency_key_replays_the_first_response(container):
    items = [TokenizeItem("name", "张三", "cust-0001"), TokenizeItem("email", "broken")]
    first = tokenize(container, items, idempotency_key="batch-0001")
    second = tokenize(container, items, idempotency_key="batch-0001")
    assert second.replayed and second.items == first.items
    assert len(rows(container)) == 1
    other_client = tokenize(
        container, items, caller=Caller(client_id="c-other"), idempotency_key="batch-0001"
    )
    assert not other_client.replayed and other_client.items != first.items
    with pytest.raises(IdempotencyConflict):
        tokenize(container, items[:1], idempotency_key="batch-0001")
    with pytest.raises(InvalidRequest):
        tokenize(container, items, idempotency_key="has space")


def test_idempotency_entries_expire_after_a_day(container, svc, monkeypatch):
    items = [TokenizeItem("name", "张三", "cust-0001")]
    first = tokenize(container, items, idempotency_key="k-expiring")
    later = svc.clock() + dt.timedelta(hours=24, seconds=1)
    monkeypatch.setattr(svc, "clock", lambda: later)
    again = tokenize(container, items, idempotency_key="k-expiring")
    assert not again.replayed and again.items != first.items
    with container.session_factory() as s:
        (row,) = s.execute(sa.select(t.idempotency)).mappings().all()
    assert row["expires_at"] > later


def test_an_erased_subject_takes_no_new_tokens(container, svc):
    tokenize(container, [TokenizeItem("name", "张三", "cust-0001", kind="deterministic")])
    erase_subject(container, "cust-0001", actor="dpo:test")
    out = tokenize(
        container,
        [
            TokenizeItem("name", "张三", "cust-0001", kind="deterministic"),
            TokenizeItem("name", "李四", "cust-0001"),
        ],
    ).items
    assert [r["error"]["rule"] for r in out] == ["subject_erased", "subject_erased"]


def test_vault_outage_leaves_nothing_written(database_url, private_bao, tmp_path):
    from tests.conftest import make_container, make_settings

    container = make_container(make_settings(database_url, private_bao, tmp_path, vault_timeout=1.0))
    try:
        tokenize(container, [TokenizeItem("name", "张三", "cust-0001")])  # system keys exist and are cached
        before = (len(rows(container)), len(rows(container, pt.subjects)), len(queued_events(container)))
        private_bao.stop()
        with pytest.raises(VaultUnavailable):
            tokenize(container, [TokenizeItem("name", "李四", "cust-new")])
        after = (len(rows(container)), len(rows(container, pt.subjects)), len(queued_events(container)))
        assert after == before
    finally:
        container.close()
