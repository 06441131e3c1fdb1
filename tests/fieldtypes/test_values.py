"""Built-in field types' values: one table of (field type, input, normalized value or failed rule).

Valid test numbers come from the small reference implementations below, written
from the standards independently of ``fieldtypes.checksums``, and
cross-checked against published examples. Errors never carry the value, and each
type's mask shows no more than intended. The registry itself is in test_registry.py.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pytest

from fieldtypes import FieldType, InvalidValue, Names, Sensitivity, default_registry

# --- reference implementations (independent of the code under test) --------------


def ref_luhn_ok(number: str) -> bool:
    total = 0
    for index, digit in enumerate(int(char) for char in reversed(number)):
        if index % 2 == 1:
            digit = sum(divmod(digit * 2, 10))
        total += digit
    return total % 10 == 0


def ref_luhn_complete(body: str) -> str:
    return next(body + d for d in "0123456789" if ref_luhn_ok(body + d))


def ref_gb11643_ok(value: str) -> bool:
    # ISO 7064 MOD 11-2: sum of a_i * 2^(i-1) over positions i counted from the right
    # (check char at i = 1, X = 10) is 1 mod 11.
    digits = [10 if char == "X" else int(char) for char in reversed(value)]
    return sum(d * pow(2, i, 11) for i, d in enumerate(digits)) % 11 == 1


def ref_resident_id(region: str, birth: str, sequence: str) -> str:
    body = region + birth + sequence
    return next(body + c for c in "0123456789X" if ref_gb11643_ok(body + c))


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def ref_uscc_ok(value: str) -> bool:
    values = [_USCC_ALPHABET.index(char) for char in value]
    return (sum(v * pow(3, i, 31) for i, v in enumerate(values[:17])) + values[17]) % 31 == 0


def ref_uscc(body: str) -> str:
    return next(body + c for c in _USCC_ALPHABET if ref_uscc_ok(body + c))


def ref_card(prefix: str, length: int) -> str:
    filler = "8273645190" * 2
    return ref_luhn_complete((prefix + filler)[: length - 1])


def china_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


# Published examples: GB 11643-1999's own examples; the classic Luhn test numbers;
# card-network test PANs (UnionPay 16 and 19 digits); USCCs of well-known companies.
PUBLISHED_IDS = ["11010519491231002X", "440524188001010014"]
PUBLISHED_CARDS = ["4111111111111111", "6200000000000005", "6205500000000000004"]
PUBLISHED_USCCS = ["91350100M000100Y43", "914403001922038216", "91330100799655058B"]


@pytest.mark.parametrize("value", PUBLISHED_IDS)
def test_reference_accepts_published_resident_ids(value):
    assert ref_gb11643_ok(value)


@pytest.mark.parametrize("value", [*PUBLISHED_CARDS, "79927398713"])
def test_reference_accepts_published_luhn_numbers(value):
    assert ref_luhn_ok(value)


@pytest.mark.parametrize("value", PUBLISHED_USCCS)
def test_reference_accepts_published_usccs(value):
    assert ref_uscc_ok(value)


# --- the table ------------------------------------------------------------------


@dataclass(frozen=True)
class Fails:
    rule: str


FUTURE = (china_today() + dt.timedelta(days=5)).strftime("%Y%m%d")
ID_1990 = ref_resident_id("110105", "19900307", "123")
ID_X = next(
    candidate
    for candidate in (ref_resident_id("310104", "19851111", f"{n:03d}") for n in range(1000))
    if candidate.endswith("X")
)
ID_HONG_KONG = ref_resident_id("810000", "19900307", "123")  # residence permit, region 81
ID_BAD_CHECK = ID_1990[:17] + ("0" if ID_1990[17] != "0" else "1")
CARD_12 = ref_card("5", 12)
CARD_19 = ref_card("4", 19)
UNIONPAY_16 = ref_card("622202", 16)
UNIONPAY_19 = ref_card("621700", 19)
USCC = ref_uscc("91110108MA01ABCD1")
USCC_BAD = USCC[:17] + next(c for c in "0123456789" if c != USCC[17])
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

CASES = [
    # cn_resident_id
    *[("cn_resident_id", value, value) for value in PUBLISHED_IDS],
    ("cn_resident_id", "11010519491231002x", "11010519491231002X"),
    # spaces and hyphens are separators, as in a mobile or card number (issue 13)
    ("cn_resident_id", "110105 19491231 002X", "11010519491231002X"),
    ("cn_resident_id", "110105-19491231-002x", "11010519491231002X"),
    ("cn_resident_id", "110105\u300019491231\u2014002X", "11010519491231002X"),
    ("cn_resident_id", ID_X.lower(), ID_X),
    ("cn_resident_id", f"  {ID_1990}\t", ID_1990),
    ("cn_resident_id", ID_1990.translate(FULLWIDTH), ID_1990),
    ("cn_resident_id", ID_BAD_CHECK, Fails("check_digit")),
    ("cn_resident_id", "11010519491231002Y", Fails("charset")),
    ("cn_resident_id", "110105194912X1002X", Fails("charset")),
    ("cn_resident_id", "1101051949123100", Fails("length")),
    ("cn_resident_id", "110105491231002", Fails("length")),  # first-generation, 15 digits
    ("cn_resident_id", "11010519491231002X0", Fails("length")),
    ("cn_resident_id", "", Fails("length")),
    ("cn_resident_id", ref_resident_id("110105", "19900230", "123"), Fails("birth_date")),
    ("cn_resident_id", ref_resident_id("110105", "19901301", "123"), Fails("birth_date")),
    ("cn_resident_id", ref_resident_id("110105", FUTURE, "123"), Fails("birth_date")),
    ("cn_resident_id", ref_resident_id("000105", "19900307", "123"), Fails("region")),
    ("cn_resident_id", ref_resident_id("990105", "19900307", "123"), Fails("region")),
    ("cn_resident_id", ID_HONG_KONG, ID_HONG_KONG),
    # cn_mobile
    ("cn_mobile", "13800138000", "13800138000"),
    ("cn_mobile", "+86 138 0013 8000", "13800138000"),
    ("cn_mobile", "+8619912345678", "19912345678"),
    ("cn_mobile", "0086-138-0013-8000", "13800138000"),
    ("cn_mobile", "86 138 0013 8000", "13800138000"),
    ("cn_mobile", "(+86) 138.0013.8000", "13800138000"),
    ("cn_mobile", "138-0013-8000", "13800138000"),
    ("cn_mobile", "１３８００１３８０００", "13800138000"),
    ("cn_mobile", "+1 415 555 2671", Fails("prefix")),
    ("cn_mobile", "0044 7700 900123", Fails("prefix")),
    ("cn_mobile", "+86 1380013800", Fails("length")),
    ("cn_mobile", "1380013800", Fails("length")),
    ("cn_mobile", "861380013800", Fails("length")),
    ("cn_mobile", "138001380001", Fails("length")),
    ("cn_mobile", "138a0013800", Fails("charset")),
    ("cn_mobile", "12800138000", Fails("pattern")),
    ("cn_mobile", "23800138000", Fails("pattern")),
    # bank_card
    *[("bank_card", value, value) for value in PUBLISHED_CARDS],
    ("bank_card", "4111 1111 1111 1111", "4111111111111111"),
    ("bank_card", "4111-1111-1111-1111", "4111111111111111"),
    ("bank_card", CARD_12, CARD_12),
    ("bank_card", CARD_19, CARD_19),
    ("bank_card", UNIONPAY_16, UNIONPAY_16),
    ("bank_card", UNIONPAY_19, UNIONPAY_19),
    ("bank_card", " ".join(re.findall(".{1,4}", UNIONPAY_19)), UNIONPAY_19),
    ("bank_card", "4111111111111112", Fails("luhn")),
    ("bank_card", UNIONPAY_19[:-1] + str((int(UNIONPAY_19[-1]) + 1) % 10), Fails("luhn")),
    ("bank_card", "79927398713", Fails("length")),
    ("bank_card", CARD_19 + "0", Fails("length")),
    ("bank_card", "4111 1111 1111 111a", Fails("charset")),
    # cn_uscc
    *[("cn_uscc", value, value) for value in PUBLISHED_USCCS],
    ("cn_uscc", "91350100m000100y43", "91350100M000100Y43"),
    ("cn_uscc", "91 350100 M000100Y4-3", "91350100M000100Y43"),
    ("cn_uscc", USCC, USCC),
    ("cn_uscc", USCC_BAD, Fails("check_digit")),
    ("cn_uscc", "91350100I000100Y43", Fails("charset")),
    ("cn_uscc", "91350100O000100Y43", Fails("charset")),
    ("cn_uscc", "9135010000100Y43", Fails("length")),
    # cn_vehicle_plate: ordinary, with a use character, small and large new-energy
    ("cn_vehicle_plate", "沪B7K209", "沪B7K209"),
    ("cn_vehicle_plate", "沪BXK2X9", Fails("pattern")),  # at most two letters in a serial
    ("cn_vehicle_plate", "浙a·5c36f", "浙A5C36F"),
    ("cn_vehicle_plate", "粤 B 12345", "粤B12345"),
    ("cn_vehicle_plate", "豫Ｃ３３１８挂", "豫C3318挂"),
    ("cn_vehicle_plate", "川AD73021", "川AD73021"),
    ("cn_vehicle_plate", "苏EF0K215", Fails("pattern")),  # small new-energy: last four are digits
    ("cn_vehicle_plate", "津C64512F", "津C64512F"),
    ("cn_vehicle_plate", "港A12345", Fails("province")),
    ("cn_vehicle_plate", "京I12345", Fails("pattern")),  # I and O are never issued
    ("cn_vehicle_plate", "京A1234", Fails("length")),
    ("cn_vehicle_plate", "京AX12345", Fails("pattern")),  # X is not an energy letter
    # passport
    ("passport", "E12345678", "E12345678"),
    ("passport", " e12345678 ", "E12345678"),
    ("passport", "E 1234 5678", "E12345678"),
    ("passport", "EA1234567", "EA1234567"),
    ("passport", "G1234", "G1234"),
    ("passport", "E123", Fails("length")),
    ("passport", "E" * 18, Fails("length")),
    ("passport", "E_1234567", Fails("charset")),
    # email
    ("email", "Zhang.San@EXAMPLE.COM", "Zhang.San@example.com"),
    ("email", " user+tag@mail.example.cn ", "user+tag@mail.example.cn"),
    ("email", "用户@例子.中国", "用户@例子.中国"),
    ("email", "no-at-sign.example.com", Fails("format")),
    ("email", "a@b@example.com", Fails("format")),
    ("email", "@example.com", Fails("format")),
    ("email", ".user@example.com", Fails("local_part")),
    ("email", "user..name@example.com", Fails("local_part")),
    ("email", "user@localhost", Fails("domain")),
    ("email", "user@-bad.example.com", Fails("domain")),
    ("email", "user@10.1.2.3", Fails("domain")),
    ("email", "user name@example.com", Fails("charset")),
    # name
    ("name", "  张  三丰 ", "张三丰"),
    ("name", "Zhang   San", "Zhang San"),
    ("name", "阿沛·阿旺晋美", "阿沛·阿旺晋美"),
    ("name", "O'Brien", "O'Brien"),
    ("name", "Jose\u0301", "Jos\u00e9"),
    ("name", "张\ue000", "张\ue000"),  # a rare character in a private-use code point
    ("name", "\U0002a6a5 \U00031350", "\U0002a6a5\U00031350"),  # extensions B and H
    ("name", "\ue000", "\ue000"),
    ("name", "张3", Fails("digits")),
    ("name", "Bob\x00", Fails("control")),
    ("name", "Bo\u200bb", Fails("control")),
    ("name", "---", Fails("letters")),
    ("name", "   ", Fails("length")),
    ("name", "a" * 65, Fails("length")),
    # address
    ("address", "北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
    ("address", " 1  Main \n St ", "1 Main St"),
    ("address", "a", Fails("length")),
    ("address", "a" * 257, Fails("length")),
    ("address", "x\x07y", Fails("control")),
    # date_of_birth
    ("date_of_birth", "1990-03-07", "1990-03-07"),
    ("date_of_birth", "19900307", "1990-03-07"),
    ("date_of_birth", "1990/03/07", "1990-03-07"),
    ("date_of_birth", "2000-02-29", "2000-02-29"),
    ("date_of_birth", "1990-3-7", Fails("format")),
    ("date_of_birth", "1990/03-07", Fails("format")),
    ("date_of_birth", "07/03/1990", Fails("format")),
    ("date_of_birth", "1900-02-29", Fails("date")),
    ("date_of_birth", "1990-02-30", Fails("date")),
    ("date_of_birth", FUTURE, Fails("date")),
    ("date_of_birth", "1899-12-31", Fails("year")),
    # free_text
    ("free_text", "  call back\n\tafter 6pm  ", "call back\n\tafter 6pm"),
    ("free_text", "x" * 4097, Fails("length")),
    ("free_text", "a\x00b", Fails("control")),
    ("free_text", "", Fails("length")),
]
INVALID = [case for case in CASES if isinstance(case[2], Fails)]
VALID = [case for case in CASES if not isinstance(case[2], Fails)]

REGISTRY = default_registry()


@pytest.mark.parametrize(("code", "value", "expected"), CASES)
def test_normalize_and_validate(code, value, expected):
    field_type = REGISTRY.get(code)
    if isinstance(expected, Fails):
        with pytest.raises(InvalidValue) as caught:
            field_type.normalize_and_validate(value)
        assert caught.value.rule == expected.rule
        assert caught.value.field_type == code
        assert not field_type.is_valid(value)
    else:
        assert field_type.normalize_and_validate(value) == expected
        assert field_type.normalize_and_validate(expected) == expected  # idempotent
        assert field_type.is_valid(value)


def test_every_builtin_type_has_valid_and_invalid_cases():
    assert {case[0] for case in VALID} == set(REGISTRY.codes())
    assert {case[0] for case in INVALID} == set(REGISTRY.codes())


# --- errors never carry the value -------------------------------------------------


def _fragments(value: str) -> set[str]:
    """The value, stripped, and every run of 3+ digits or 4+ letters in it (if 3+ long)."""
    runs = re.findall(r"[0-9]{3,}|[^\W\d_]{4,}", value)
    return {fragment for fragment in (value, value.strip(), *runs) if len(fragment.strip()) >= 3}


@pytest.mark.parametrize(("code", "value", "expected"), INVALID)
def test_invalid_value_error_does_not_contain_the_value(code, value, expected):
    with pytest.raises(InvalidValue) as caught:
        REGISTRY.get(code).normalize_and_validate(value)
    exc = caught.value
    texts = [str(exc), repr(exc), exc.rule, exc.message, *map(str, exc.args)]
    for fragment in _fragments(value):
        for text in texts:
            assert fragment not in text
    assert exc.__cause__ is None
    assert exc.__context__ is None


def test_a_library_error_quoting_the_value_is_replaced():
    def parse_as_int(value: str) -> None:
        int(value)  # ValueError: invalid literal for int() with base 10: '...'

    field_type = FieldType(
        code="quoting",
        names=Names("引用", "quoting"),
        sensitivity=Sensitivity.C1,
        pipl_sensitive=False,
        normalizer=str.strip,
        validator=parse_as_int,
        mask=str,
        max_length=20,
    )
    with pytest.raises(InvalidValue) as caught:
        field_type.normalize_and_validate("secret-12345")
    assert caught.value.rule == "format"
    assert "secret" not in str(caught.value) and "12345" not in str(caught.value)
    assert caught.value.__context__ is None


@pytest.mark.parametrize("value", [None, 12345678, b"13800138000", ["13800138000"]])
def test_non_strings_are_rejected_without_echo(value):
    with pytest.raises(InvalidValue) as caught:
        REGISTRY.get("cn_mobile").normalize_and_validate(value)
    assert caught.value.rule == "type"
    assert "138" not in str(caught.value)


def test_huge_input_is_rejected_before_normalization():
    with pytest.raises(InvalidValue) as caught:
        REGISTRY.get("cn_mobile").normalize_and_validate("1" * 100_000)
    assert caught.value.rule == "length"


# --- masks ------------------------------------------------------------------------

MASKS = [
    ("cn_resident_id", "11010519491231002X", "110***********002X"),
    ("cn_mobile", "13812345678", "138****5678"),
    ("bank_card", UNIONPAY_16, UNIONPAY_16[:6] + "******" + UNIONPAY_16[-4:]),
    ("bank_card", UNIONPAY_19, UNIONPAY_19[:6] + "*********" + UNIONPAY_19[-4:]),
    ("bank_card", CARD_12, CARD_12[:2] + "******" + CARD_12[-4:]),
    ("cn_uscc", "91350100M000100Y43", "91350100********43"),
    ("passport", "E12345678", "E******78"),
    ("cn_vehicle_plate", "川AD73021", "川A******"),
    ("cn_vehicle_plate", "沪B7K209", "沪B*****"),
    ("passport", "G1234", "G***4"),
    ("email", "zhang.san@example.com", "z***@example.com"),
    ("email", "z@example.com", "***@example.com"),
    ("name", "张三丰", "张**"),
    ("name", "张三", "张*"),
    ("name", "张", "*"),
    ("name", "张\ue000", "张*"),
    ("name", "Zhang San", "Z***"),
    ("address", "北京市朝阳区建国路88号", "北京市朝阳区****"),
    ("address", "上海", "上****"),
    ("date_of_birth", "1990-03-07", "1990-**-**"),
    ("free_text", "call back after 6pm", "[free text, 19 chars]"),
]


@pytest.mark.parametrize(("code", "value", "expected"), MASKS)
def test_mask(code, value, expected):
    assert REGISTRY.get(code).mask(REGISTRY.get(code).normalize_and_validate(value)) == expected


def test_masks_cover_every_builtin_type():
    assert {case[0] for case in MASKS} == set(REGISTRY.codes())


# Length-preserving masks: (leading kept, trailing kept, hidden at least; None: half).
MIDDLE_MASKS = {
    "cn_resident_id": (3, 4, 11),
    "cn_mobile": (3, 4, 4),
    "bank_card": (6, 4, 6),
    "cn_uscc": (8, 2, 8),
    "passport": (1, 2, None),
    "cn_vehicle_plate": (2, 0, 5),
}


@pytest.mark.parametrize(("code", "value", "normalized"), VALID)
def test_mask_never_shows_more_than_intended(code, value, normalized):
    masked = REGISTRY.get(code).mask(normalized)
    assert masked != normalized
    if code in MIDDLE_MASKS:
        start, end, min_hidden = MIDDLE_MASKS[code]
        assert len(masked) == len(normalized)
        for index, char in enumerate(masked):
            if char != "*":
                assert index < start or index >= len(masked) - end
                assert char == normalized[index]
        required = (len(normalized) + 1) // 2 if min_hidden is None else min_hidden
        assert masked.count("*") >= required
    elif code == "email":
        local, _, domain = normalized.rpartition("@")
        assert masked in (f"***@{domain}", f"{local[0]}***@{domain}")
    elif code == "name":
        if len(normalized) == 1:
            assert masked == "*"
        else:
            assert masked[0] == normalized[0] and set(masked[1:]) == {"*"}
    elif code == "address":
        shown = masked.removesuffix("****")
        assert normalized.startswith(shown) and len(shown) <= min(6, len(normalized) // 2)
    elif code == "date_of_birth":
        assert masked == normalized[:4] + "-**-**"
    else:
        assert code == "free_text"
        assert re.fullmatch(r"\[free text, [0-9]+ chars\]", masked)


def test_birth_today_in_china_is_not_in_the_future():
    today = china_today().strftime("%Y%m%d")
    assert REGISTRY.get("cn_resident_id").is_valid(ref_resident_id("110105", today, "123"))
    assert REGISTRY.get("date_of_birth").is_valid(today)
