"""Check-digit schemes against published vectors and the standards' weight formulas."""

from __future__ import annotations

import random

import pytest

from fieldtypes import CHECK_SCHEMES, default_registry
from fieldtypes.checksums import (
    GB11643,
    GB11643_WEIGHTS,
    GB32100,
    GB32100_WEIGHTS,
    ISO7064_MOD97_10,
    LUHN,
    gb11643_check,
    gb32100_check,
    iso7064_mod97_10_check,
    luhn_check,
)


def test_gb11643_weights_are_powers_of_two_mod_11():
    assert tuple(pow(2, 17 - i, 11) for i in range(17)) == GB11643_WEIGHTS
    assert GB11643_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def test_gb32100_weights_are_powers_of_three_mod_31():
    assert tuple(pow(3, i, 31) for i in range(17)) == GB32100_WEIGHTS
    assert GB32100_WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        (LUHN, "79927398713"),  # the classic Luhn example
        (LUHN, "4111111111111111"),
        (LUHN, "5555555555554444"),
        (LUHN, "378282246310005"),
        (GB11643, "11010519491231002X"),  # GB 11643-1999 examples
        (GB11643, "440524188001010014"),
        (GB32100, "91350100M000100Y43"),
        (GB32100, "914403001922038216"),
        (GB32100, "91440300708461136T"),
        (ISO7064_MOD97_10, "79444"),  # the ISO 7064 MOD 97-10 example
        # IBAN GB82 WEST 1234 5698 7654 32, letters as numbers, country moved to the end
        (ISO7064_MOD97_10, "3214282912345698765432161182"),
    ],
)
def test_published_values_are_valid(scheme, value):
    assert scheme.is_valid(value)
    body = value[: -scheme.check_length]
    assert scheme.complete(body) == value


@pytest.mark.parametrize(
    ("scheme", "value"),
    [
        (LUHN, "79927398710"),
        (LUHN, "4111111111111112"),
        (GB11643, "110105194912310021"),
        (GB11643, "11010519491231002"),  # no check character
        (GB32100, "91350100M000100Y44"),
        (GB32100, "91350100M000100Y4"),
        (ISO7064_MOD97_10, "79443"),
        (LUHN, "7"),
        (LUHN, ""),
    ],
)
def test_wrong_values_are_invalid(scheme, value):
    assert not scheme.is_valid(value)


def test_luhn_catches_every_single_digit_error():
    value = "4111111111111111"
    for position in range(len(value)):
        for digit in "0123456789":
            if digit != value[position]:
                assert not LUHN.is_valid(value[:position] + digit + value[position + 1 :])


@pytest.mark.parametrize(
    ("check", "body", "message"),
    [
        (luhn_check, "12a4", "alphabet"),
        (luhn_check, "", "alphabet"),
        (luhn_check, "١٢٣", "alphabet"),  # non-ASCII digits
        (gb11643_check, "1101051949123100", "17"),
        (gb11643_check, "1101051949123100A", "alphabet"),
        (gb32100_check, "91350100I000100Y4", "alphabet"),
        (gb32100_check, "91350100M000100Y", "17"),
        (iso7064_mod97_10_check, "79a", "alphabet"),
    ],
)
def test_malformed_bodies_raise_without_echo(check, body, message):
    with pytest.raises(ValueError, match=message) as caught:
        check(body)
    if body:
        assert body not in str(caught.value)


def test_check_schemes_vocabulary():
    assert set(CHECK_SCHEMES) == {"luhn", "gb11643", "gb32100", "iso7064_mod97_10"}
    assert LUHN.rule == "luhn" and GB11643.rule == GB32100.rule == "check_digit"


def test_luhn_fill_repairs_a_token_that_keeps_the_last_four():
    """What a format-preserving bank card token keeping the BIN (PIIVAULT_CARD_TOKEN_KEEPS_BIN)
    does: keep BIN and last 4, fill one digit."""
    card = "6222021234567890128"
    assert LUHN.is_valid(card)
    rng = random.Random(7)
    for _ in range(50):
        middle = "".join(rng.choice("0123456789") for _ in range(len(card) - 10))
        candidate = card[:6] + middle + card[-4:]
        digit = LUHN.fill(candidate, 6)
        assert digit is not None
        token = candidate[:6] + digit + candidate[7:]
        assert LUHN.is_valid(token)
        assert token[:6] == card[:6] and token[-4:] == card[-4:]
        assert default_registry().get("bank_card").is_valid(token)


def test_mod_11_fill_may_have_no_solution():
    # Ten digits cannot reach eleven residues, so about 1 body in 11 has no fill.
    unsolvable = [
        body
        for body in (f"11010519900307{n:03d}" for n in range(200))
        if GB11643.fill(body + "X", 16) is None
    ]
    assert unsolvable


def test_fill_position_must_be_in_the_body():
    with pytest.raises(ValueError):
        LUHN.fill("4111111111111111", 15)


@pytest.mark.parametrize("code", ["cn_resident_id", "bank_card", "cn_uscc"])
def test_fpe_alphabet_is_within_the_check_scheme(code):
    fpe = default_registry().get(code).fpe
    assert fpe is not None and fpe.check is not None
    assert set(fpe.alphabet) <= set(fpe.check.alphabet)
