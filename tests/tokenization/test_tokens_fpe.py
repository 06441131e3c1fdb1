"""Token strings and format-preserving draws (no database)."""

from __future__ import annotations

import re

import pytest

from fieldtypes import default_registry
from fieldtypes.builtin.bank_card import keeping_bin
from fieldtypes.checksums import LUHN
from tokenization.errors import ItemRejected
from tokenization.fpe import MIN_DRAWN, format_preserving_token
from tokenization.tokens import (
    blind_index,
    deterministic_token,
    new_standalone_owner,
    new_subject_id,
    random_token,
    short_code,
)
from vault import DataKey

REGISTRY = default_registry()
CARD_19 = LUHN.complete("622202020011234567")

# (field type, normalized value, characters kept at the start and end when keep_ends)
FPE_CASES = [
    ("bank_card", "4111111111111111", 0, 4),
    ("bank_card", CARD_19, 0, 4),
    ("bank_card", LUHN.complete("58000000190"), 0, 4),  # 12 digits: eight drawn
    ("cn_resident_id", "11010519491231002X", 6, 0),
    ("cn_mobile", "13812345678", 3, 0),
    ("passport", "E12345678", 1, 0),
    ("cn_uscc", "91350100M000100Y43", 8, 0),
]


def test_random_tokens_are_prefixed_and_unique():
    tokens = {random_token("cn_mobile") for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(re.fullmatch(r"tok_mob_[a-z2-7]{26}", t) for t in tokens)


def test_configured_field_types_get_a_short_code():
    assert short_code("employee_number_of_the_bank") == "employee_num"
    assert random_token("employee_number_of_the_bank").startswith("tok_employee_num_")


def test_ids_are_opaque_and_distinct():
    assert re.fullmatch(r"sub_[a-z2-7]{26}", new_subject_id())
    assert re.fullmatch(r"std_[a-z2-7]{26}", new_standalone_owner())
    assert new_subject_id() != new_subject_id()


def test_deterministic_tokens_depend_on_key_scope_field_type_and_value():
    key, other = DataKey.generate("system:x"), DataKey.generate("system:y")
    token = deterministic_token(key, "cn_mobile", "global", "13812345678")
    assert re.fullmatch(r"tkd_mob_[a-z2-7]{26}", token)
    assert token == deterministic_token(key, "cn_mobile", "global", "13812345678")
    assert token != deterministic_token(other, "cn_mobile", "global", "13812345678")
    assert token != deterministic_token(key, "cn_mobile", "subject:s-1", "13812345678")
    assert token != deterministic_token(key, "cn_mobile", "global", "13812345679")
    # The field type is part of the key derivation, not only of the prefix.
    body = deterministic_token(key, "name", "global", "x").rsplit("_", 1)[1]
    assert body != deterministic_token(key, "email", "global", "x").rsplit("_", 1)[1]
    # The scope is length-prefixed: moving characters between scope and value changes the token.
    assert deterministic_token(key, "name", "ab", "c") != deterministic_token(key, "name", "a", "bc")


def test_blind_index_is_keyed_and_per_field_type():
    key = DataKey.generate("system:blind")
    assert blind_index(key, "name", "张三") == blind_index(key, "name", "张三")
    assert blind_index(key, "name", "张三") != blind_index(key, "address", "张三")
    assert blind_index(key, "name", "张三") != blind_index(DataKey.generate("system:b"), "name", "张三")


@pytest.mark.parametrize(("code", "value", "keep_start", "keep_end"), FPE_CASES)
def test_format_preserving_tokens_look_like_values(code, value, keep_start, keep_end):
    field_type = REGISTRY.get(code)
    assert field_type.normalize_and_validate(value) == value
    spec = field_type.fpe
    allowed = set(spec.alphabet) | set(spec.check.check_alphabet if spec.check else "")
    for keep_ends in (True, False):
        tokens = {format_preserving_token(field_type, value, keep_ends=keep_ends) for _ in range(200)}
        assert len(tokens) > 150  # random, not a function of the value
        for token in tokens:
            assert token != value
            assert len(token) == len(value)
            assert field_type.normalize_and_validate(token) == token
            assert set(token) <= allowed
            if keep_ends:
                assert token[:keep_start] == value[:keep_start]
                assert token[len(token) - keep_end :] == value[len(value) - keep_end :]
        if not keep_ends:
            assert any(t[:2] != value[:2] for t in tokens)


def test_a_card_token_shares_only_the_last_four_with_the_mask():
    """Issue 14, item 4a: a token keeping BIN and last four is one of ~10^5 guesses for anyone
    who saw the mask (622202*********4567). By default only the last four are kept."""
    field_type = REGISTRY.get("bank_card")
    shown = field_type.mask(CARD_19)
    assert shown.startswith(CARD_19[:6]) and shown.endswith(CARD_19[-4:])
    tokens = [format_preserving_token(field_type, CARD_19) for _ in range(200)]
    assert all(t[-4:] == CARD_19[-4:] and LUHN.is_valid(t) for t in tokens)
    # 15 drawn digits (one solved for the check digit): the BIN comes back by chance, 1 in 10^6.
    assert sum(t[:6] == CARD_19[:6] for t in tokens) <= 1
    assert len({t[:6] for t in tokens}) > 190


def test_keeping_the_bin_is_an_explicit_choice_that_draws_the_middle():
    field_type = keeping_bin(REGISTRY.get("bank_card"))
    assert REGISTRY.get("bank_card").fpe.keep_start == 0  # the registry's type is untouched
    token = format_preserving_token(field_type, CARD_19, keep_ends=True)
    assert token[:6] == CARD_19[:6] and token[-4:] == CARD_19[-4:]
    assert LUHN.is_valid(token)
    assert len(CARD_19) - 10 >= MIN_DRAWN
    assert keeping_bin(REGISTRY.get("name")) is REGISTRY.get("name")  # no spec: nothing to keep


def test_resident_id_tokens_have_a_real_birth_date_and_check_character():
    field_type = REGISTRY.get("cn_resident_id")
    for _ in range(100):
        token = format_preserving_token(field_type, "11010519491231002X")
        assert token[6:8] == "19"
        assert field_type.is_valid(token)


@pytest.mark.parametrize(
    "code", ["name", "email", "address", "free_text", "date_of_birth", "cn_vehicle_plate"]
)
def test_field_types_without_a_spec_have_no_format_preserving_tokens(code):
    with pytest.raises(ItemRejected) as e:
        format_preserving_token(REGISTRY.get(code), "whatever")
    assert e.value.rule == "kind"


def test_giving_up_is_an_item_error_without_the_value():
    field_type = REGISTRY.get("cn_mobile")
    with pytest.raises(ItemRejected) as e:
        # A generator stuck on 0 draws "10000000000": never a valid mobile.
        format_preserving_token(field_type, "13812345678", keep_ends=False, randbelow=lambda n: 0)
    assert e.value.rule == "format_preserving"
    assert "13812345678" not in str(e.value.args)
