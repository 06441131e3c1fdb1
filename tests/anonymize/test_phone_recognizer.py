"""FastPhoneRecognizer finds exactly what Presidio's PhoneRecognizer finds, without parsing short runs."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from anonymize.text import TextEngine
from anonymize.text.recognizers.generic.phone import FastPhoneRecognizer, min_candidate_digits

_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE, PhoneNumberType.VOIP)
_FORMATS = (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164)
_WORDS = [
    "call", "back", "on", "the", "ref", "order", "amount", "due", "paid", "card", "ext", "tel", "mob", "fax",
    "or", "and", "at", "x", "Mr", "Smith",
]  # fmt: skip
_NOISE = "0123456789      --..//()+x#:%$£,;abcXYZ\n"


def _example_numbers() -> list[str]:
    """Every region's example numbers of four types in three formats, and their short local forms."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            numbers += [phonenumbers.format_number(number, f) for f in _FORMATS]
            national = str(number.national_number)
            numbers += [national[-n:] for n in (4, 5, 6, 7) if len(national) > n]
    return numbers


def _snippets(rng: random.Random) -> list[str]:
    """Numbers as notes write them, near-misses around the skipping bound and random noise."""
    out = _example_numbers()
    for _ in range(600):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 13)))
        prefix = rng.choice(["", "", "+", "00", "011", "+49 ", "0049", "+1 ", "(0)", "+290 ", "+378 "])
        out.append(prefix + digits)
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 11)))
        cut = rng.randint(1, len(digits) - 1)
        separator = rng.choice([" ", "-", ".", "/", " x ", "x", " ext. ", "#", ":", "  "])
        out.append(digits[:cut] + separator + digits[cut:] + rng.choice(["", " ext 12", "x3", "#", ":30"]))
    for _ in range(200):
        out.append("".join(rng.choice(_NOISE) for _ in range(rng.randint(3, 30))))
    out += ["14 March 1978", "£250.00", "10:30", "1-800-FLOWERS", "800xxx555xxx1234", "CALL 0800 FLOWERS"]
    return out


def _corpus() -> list[str]:
    """Texts of words and snippets in random order: numbers at the start, the end, beside letters."""
    rng = random.Random(20261206)
    snippets = _snippets(rng)
    rng.shuffle(snippets)
    texts = ["", "No digits in this note at all.", "0", "1234567890" * 30]
    while snippets:
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(snippets.pop() if snippets and rng.random() < 0.5 else rng.choice(_WORDS))
        joiner = rng.choice([" ", ", ", "", "\n", " - "])
        texts.append(joiner.join(parts))
    return texts


def _found(recognizer: PhoneRecognizer, text: str) -> list[tuple[str, int, int, float, str]]:
    return sorted(
        (r.entity_type, r.start, r.end, r.score, r.analysis_explanation.textual_explanation)
        for r in recognizer.analyze(text, ["PHONE_NUMBER"])
    )


def test_finds_what_presidio_finds_on_a_varied_corpus() -> None:
    stock, fast = PhoneRecognizer(), FastPhoneRecognizer()
    texts = _corpus()
    found = 0
    for text in texts:
        expected = _found(stock, text)
        assert _found(fast, text) == expected, text
        found += len(expected)
    # The corpus is not trivially empty of phone numbers nor of what the bound skips.
    assert found > 500
    assert len(texts) > 300


@pytest.mark.parametrize("region", PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS)
def test_the_bound_is_below_every_valid_example(region: str) -> None:
    """No example number of any region, written as it would be dialled from ``region``, has fewer
    digits than the bound: the bound skips nothing a valid number could be."""
    fewest = min_candidate_digits(region)
    assert fewest >= 4  # dates' and amounts' short runs are skipped
    for other in phonenumbers.SUPPORTED_REGIONS:
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(other, kind)
            if number is None:
                continue
            dialled = phonenumbers.format_out_of_country_calling_number(number, region)
            assert sum(c.isdigit() for c in dialled) >= fewest, (other, dialled)


def test_a_looser_leniency_skips_nothing() -> None:
    """Possible (not valid) numbers have no length bound from the metadata: nothing is skipped."""
    text = "ref 12345 and 98 7654 then +44 20 7946 0958"
    stock, fast = PhoneRecognizer(leniency=0), FastPhoneRecognizer(leniency=0)
    assert _found(fast, text) == _found(stock, text)


def test_the_engine_uses_it_configured_as_presidio_was(engine: TextEngine) -> None:
    phones = [r for r in engine.analyzer.registry.recognizers if isinstance(r, PhoneRecognizer)]
    assert [type(r) for r in phones] == [FastPhoneRecognizer]
    assert phones[0].supported_regions == PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS
    assert phones[0].context == PhoneRecognizer.CONTEXT


def test_short_runs_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dates, amounts and times are candidates of the matcher; only Presidio's parses them."""
    from phonenumbers import phonenumbermatcher

    parsed: list[str] = []
    real_parse = phonenumbermatcher.parse

    def counting_parse(number: str, *args: object, **kwargs: object) -> object:
        parsed.append(number)
        return real_parse(number, *args, **kwargs)

    monkeypatch.setattr(phonenumbermatcher, "parse", counting_parse)
    text = "Paid £250 on 14 March at 10:30, ref 441."
    assert FastPhoneRecognizer().analyze(text, ["PHONE_NUMBER"]) == []
    assert parsed == []
    assert PhoneRecognizer().analyze(text, ["PHONE_NUMBER"]) == []
    assert len(parsed) >= 8  # "14" at least, once per region
