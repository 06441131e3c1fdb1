from __future__ import annotations

import datetime
import enum
import math
from decimal import Decimal
from typing import Any

import pytest

from audit.canonical import canonical_json


class Outcome(enum.Enum):
    ALLOWED = "allowed"


class Level(enum.IntEnum):
    ONE = 1


class Tag(str):
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, b"{}"),
        ([], b"[]"),
        (None, b"null"),
        (True, b"true"),
        (0, b"0"),
        (-7, b"-7"),
        (2**70, b"1180591620717411303424"),
        (1.5, b"1.5"),
        ("", b'""'),
        ({"b": 1, "a": [1, 2, {"d": None, "c": False}]}, b'{"a":[1,2,{"c":false,"d":null}],"b":1}'),
        ({"名": "张三", "emoji": "\U0001f600"}, '{"emoji":"\U0001f600","名":"张三"}'.encode()),
        ({"quote": 'a"b\\c\n\t\x00'}, b'{"quote":"a\\"b\\\\c\\n\\t\\u0000"}'),
        ({"B": 1, "a": 2, "_": 3, "1": 4}, b'{"1":4,"B":1,"_":3,"a":2}'),
    ],
)
def test_serializes_canonically(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


def test_key_order_does_not_matter() -> None:
    first = {"subject": "s1", "purpose": "risk_scoring", "outcome": {"x": 1, "y": 2}}
    second = {"outcome": {"y": 2, "x": 1}, "purpose": "risk_scoring", "subject": "s1"}
    assert canonical_json(first) == canonical_json(second)


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        {None: "none key"},
        {True: "bool key"},
        {("a",): "tuple key"},
        {"nested": {2: "x"}},
        ("tuple",),
        {"t": (1, 2)},
        {"s": {1, 2}},
        b"bytes",
        {"when": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)},
        {"when": datetime.date(2024, 1, 1)},
        {"amount": Decimal("1.10")},
        {"outcome": Outcome.ALLOWED},
        {"level": Level.ONE},
        {"tag": Tag("x")},
        {Tag("k"): 1},
        [object()],
    ],
)
def test_rejects_non_json_types(value: Any) -> None:
    with pytest.raises(TypeError):
        canonical_json(value)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_rejects_non_finite_floats(number: float) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": [number]})


def test_rejects_lone_surrogates() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": "\ud800"})


def test_rejects_self_reference() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        canonical_json(loop)


def test_shared_subobjects_are_not_cycles() -> None:
    shared = {"k": 1}
    assert canonical_json([shared, shared]) == b'[{"k":1},{"k":1}]'
