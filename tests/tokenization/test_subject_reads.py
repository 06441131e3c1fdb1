"""The console's reads of a subject's tokens, owned by tokenization.subject_tokens: whose a token is,
and which tokens a subject holds (on SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.tokenization.conftest import tokenize
from tokenization import subject_tokens
from tokenization.model import TokenizeItem


def test_a_token_names_its_subject_and_a_standalone_or_unknown_one_nobody(container):
    out = tokenize(
        container,
        [
            TokenizeItem("name", "张三", "cust-0001"),
            TokenizeItem("cn_mobile", "13812345678", "cust-0002"),
            TokenizeItem("name", "李四"),  # standalone: its owner is internal, not a subject
        ],
    ).items
    owned, other, standalone = (item["token"] for item in out)
    with container.session_factory() as session:
        assert subject_tokens.of_token(session, owned) == "cust-0001"
        assert subject_tokens.of_token(session, other) == "cust-0002"
        assert subject_tokens.of_token(session, standalone) is None
        assert subject_tokens.of_token(session, "tok_name_" + "a" * 26) is None
        for malformed in ("", "x" * 129, None, 42):
            assert subject_tokens.of_token(session, malformed) is None  # type: ignore[arg-type]


def test_a_subjects_tokens_by_field_type_at_most_the_limit(container):
    out = tokenize(
        container,
        [
            TokenizeItem("name", "张三", "cust-0001"),
            TokenizeItem("cn_mobile", "13812345678", "cust-0001"),
            TokenizeItem("email", "zhang.san@example.com", "cust-0001"),
            TokenizeItem("name", "李四", "cust-0002"),
        ],
    ).items
    mine = {item["token"] for item in out[:3]}
    with container.session_factory() as session:
        held = subject_tokens.tokens_of(session, "cust-0001")
        assert {token for token, _ in held} == mine
        assert [field_type for _, field_type in held] == ["cn_mobile", "email", "name"]
        assert len(subject_tokens.tokens_of(session, "cust-0001", limit=2)) == 2
        assert subject_tokens.tokens_of(session, "cust-0003") == []
