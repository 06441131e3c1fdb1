"""Bank card number (PAN) of 16-19 digits, UnionPay 62 included: the Luhn check decides."""

from __future__ import annotations

from presidio_analyzer import Pattern

from anonymize.text.recognizers.base import IdentifierRecognizer, bounded, digits_only, resident_id_shaped
from fieldtypes import default_registry

_CARD = default_registry().get("bank_card")


def plausible_issuer(number: str) -> bool:
    """The first digit names an industry that issues bank cards (ISO/IEC 7812 MII).

    3 travel (JCB, Amex), 4-5 banking (Visa, Mastercard), 6 banking (UnionPay 62,
    Discover), 8 (some UnionPay ranges), 9 national (China's domestic 9-series
    debit cards); 2 only in Mastercard's 2221-2720. Order numbers starting with
    a year (2024...) or 1 are not cards even when their last digit happens to fit.
    """
    if number[0] in "345689":
        return True
    return number[0] == "2" and 2221 <= int(number[:4]) <= 2720


class CnBankCardRecognizer(IdentifierRecognizer):
    """16-19 digits, contiguous or in groups of four: Luhn valid -> 1.0.

    Failing Luhn: score 0.3, under the threshold, ``reason: Luhn check fails``;
    a card word before it (卡号, 信用卡) lifts it to 0.65, so a mistyped card
    number after its label is still anonymized.

    One number in ten passes Luhn by chance, so two kinds are dropped, Luhn or
    not: a number right after a reference label (订单号, 流水号, order no), and an
    18-digit number shaped like a resident ID (which failed the ID's own check)
    unless it starts with UnionPay's 62 (also Gansu's province code).
    """

    ENTITY = "CN_BANK_CARD"
    PATTERNS = (
        Pattern("bank_card", bounded(r"\d{16,19}"), 0.5),
        Pattern("bank_card_grouped", bounded(r"\d{4}(?:[ -]\d{4}){3}(?:[ -]?\d{1,3})?"), 0.5),
    )
    CONTEXT = ("卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "账号", "card", "account")
    VETO_REFERENCE_LABELS = True

    # Below the threshold: only a card word nearby (卡号, 信用卡) lifts a number failing Luhn over it.
    WEAK_SCORE = 0.3

    def validate_result(self, pattern_text: str) -> bool | None:
        number = digits_only(pattern_text)
        if len(number) == 18 and not number.startswith("62") and resident_id_shaped(number):
            return False
        if not (16 <= len(number) <= 19 and plausible_issuer(number)):
            return False
        return True if _CARD.is_valid(number) else None

    def weak_reason(self, pattern_text: str) -> str | None:
        return None if _CARD.is_valid(digits_only(pattern_text)) else "Luhn check fails"
