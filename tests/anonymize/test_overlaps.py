"""Overlapping candidates are resolved in one place: score, then length, then field-type priority."""

from __future__ import annotations

import pytest

from anonymize.text.entities import Entity
from anonymize.text.overlaps import resolve

E = Entity


@pytest.mark.parametrize(
    ("candidates", "kept"),
    [
        ([E("bank_card", 0, 18, 1.0), E("cn_resident_id", 0, 18, 1.0)], [E("cn_resident_id", 0, 18, 1.0)]),
        ([E("cn_uscc", 0, 18, 1.0), E("cn_resident_id", 0, 18, 1.0)], [E("cn_resident_id", 0, 18, 1.0)]),
        ([E("cn_mobile", 0, 11, 0.75), E("email", 0, 19, 1.0)], [E("email", 0, 19, 1.0)]),
        ([E("phone", 3, 14, 0.4), E("cn_mobile", 0, 14, 0.75)], [E("cn_mobile", 0, 14, 0.75)]),
        (
            [E("name", 5, 7, 0.85), E("cn_mobile", 0, 4, 0.75)],
            [E("cn_mobile", 0, 4, 0.75), E("name", 5, 7, 0.85)],
        ),
        ([E("phone", 0, 11, 0.75), E("cn_mobile", 0, 11, 0.75)], [E("cn_mobile", 0, 11, 0.75)]),
        ([], []),
    ],
)
def test_resolve(candidates: list[Entity], kept: list[Entity]) -> None:
    assert resolve(candidates) == kept
