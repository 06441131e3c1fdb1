"""The quick list fields load what marshmallow would, and leave every problem to marshmallow."""

from __future__ import annotations

import marshmallow as ma
import pytest

from api.listfields import Strings
from api.schemas import Schema


def _schemas() -> tuple[ma.Schema, ma.Schema]:
    def tokens(field: type[ma.fields.List]) -> ma.fields.List:
        return field(ma.fields.String(validate=ma.validate.Length(1, 8)), validate=ma.validate.Length(min=1))

    quick = Schema.from_dict({"tokens": tokens(Strings)})()
    plain = Schema.from_dict({"tokens": tokens(ma.fields.List)})()
    return quick, plain


@pytest.mark.parametrize(
    "tokens",
    [
        ["a", "12345678"],
        ["tok_1"] * 1_000,
        [],  # the list's own Length: still checked
        ["a", ""],
        ["a", "123456789"],
        ["a", 7],
        ["a", None],
        ["a", ["nested"]],
        "not a list",
        {"a": 1},
        None,
    ],
)
def test_loads_and_refuses_exactly_as_marshmallow_does(tokens):
    quick, plain = _schemas()
    outcomes = []
    for schema in (quick, plain):
        try:
            outcomes.append(("loaded", schema.load({"tokens": tokens})))
        except ma.ValidationError as e:
            outcomes.append(("refused", e.messages))
    assert outcomes[0] == outcomes[1]


def test_the_loaded_list_is_a_copy():
    quick, _ = _schemas()
    given = ["a", "b"]
    loaded = quick.load({"tokens": given})["tokens"]
    given.append("c")
    assert loaded == ["a", "b"]


@pytest.mark.parametrize(
    "element",
    [
        ma.fields.String(validate=ma.validate.Regexp("^tok_")),  # would be skipped by the quick path
        ma.fields.String(allow_none=True),
        ma.fields.Integer(),
        ma.fields.Email(),
    ],
)
def test_refuses_element_fields_whose_checks_it_would_skip(element):
    with pytest.raises(TypeError):
        Strings(element)
