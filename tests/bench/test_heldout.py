"""Self-check of the held-out detection set (bench/heldout): labels are well-formed and honest."""

from __future__ import annotations

import re

import pytest

from bench.heldout.generate import TYPES, items
from bench.heldout.lexicon import PLATE_PROVINCES
from bench.heldout.values import id_check_char, luhn_ok, normalize

PLATE = re.compile(rf"^[{PLATE_PROVINCES}][A-HJ-NP-Z][·\s]?[A-HJ-NP-Z0-9]{{5,6}}$")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return items()


def test_sizes_and_languages(rows: list[dict]) -> None:
    assert sum(r["lang"] == "zh" for r in rows) >= 1500
    assert sum(r["lang"] == "en" for r in rows) >= 300
    seen = {e["type"] for r in rows for e in r["entities"]}
    assert seen == set(TYPES)


def test_spans_inside_text_and_disjoint(rows: list[dict]) -> None:
    for r in rows:
        last_end = 0
        for e in sorted(r["entities"], key=lambda e: e["start"]):
            assert 0 <= e["start"] < e["end"] <= len(r["text"]), r
            assert e["start"] >= last_end, r
            assert e["type"] in TYPES
            value = r["text"][e["start"] : e["end"]]
            assert value == value.strip(), r
            last_end = e["end"]


def test_checksums_as_labelled(rows: list[dict]) -> None:
    for r in rows:
        for e in r["entities"]:
            v = normalize(r["text"][e["start"] : e["end"]])
            typo = e.get("typo", False)
            if e["type"] == "cn_resident_id":
                assert re.fullmatch(r"\d{17}[\dXx]", v), v
                assert (id_check_char(v[:17]) == v[17].upper()) is not typo, v
                assert 1 <= int(v[10:12]) <= 12 and 1 <= int(v[12:14]) <= 31, v
            elif e["type"] == "bank_card":
                assert re.fullmatch(r"\d{16,19}", v), v
                assert luhn_ok(v) is not typo, v
            else:
                assert not typo
            if e["type"] == "cn_mobile":
                assert re.fullmatch(r"1[3-9]\d{9}", v), v
            elif e["type"] == "us_ssn":
                a, g, s = r["text"][e["start"] : e["end"]].split("-")
                assert a not in ("000", "666") and int(a) < 900 and g != "00" and s != "0000", v
            elif e["type"] == "vehicle_plate":
                assert PLATE.match(r["text"][e["start"] : e["end"]]), v
            elif e["type"] == "email":
                assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", v), v


def test_generator_is_deterministic() -> None:
    assert items(60, 20, seed=7) == items(60, 20, seed=7)
    assert items(60, 20, seed=7) != items(60, 20, seed=8)
