"""Extract spec: parsing, defaults, canonical hash, and errors that name the offending key."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from anonymize.extract import (
    AgeBands,
    IdentifierAction,
    IncomeBands,
    InvalidSpec,
    Region,
    Release,
    Role,
    load_spec,
    loads_spec,
    parse_spec,
)

YAML = """
purpose: risk_scoring
description: 2024Q4 model refresh
columns:
  subject_id: {role: identifier, action: pseudonym}
  name: {role: identifier}
  resident_id: {role: quasi, as: region, hierarchy: {type: region, level: province}}
  age: {role: quasi, hierarchy: {type: age_bands}}
  income: {role: quasi, hierarchy: {type: income_bands}}
  credit_grade: {role: sensitive}
  debt_ratio: {role: attribute, coding: {top: 99}}
privacy: {k: 10, l: 2, max_suppression: 0.01}
"""


def test_a_yaml_spec_parses_with_defaults() -> None:
    spec = loads_spec(YAML)
    assert spec.purpose == "risk_scoring"
    assert spec.subject_column == "subject_id"
    assert [c.name for c in spec.quasi] == ["resident_id", "age", "income"]
    assert spec.columns[0].action is IdentifierAction.PSEUDONYM
    assert spec.columns[1].action is IdentifierAction.DROP and not spec.columns[1].released
    assert spec.quasi[0].output == "region"
    assert spec.quasi[0].hierarchy == Region(source="resident_id", level="province", release=Release.CHILDREN)
    assert spec.quasi[1].hierarchy == AgeBands(width=10)
    assert spec.quasi[2].hierarchy == IncomeBands()
    assert spec.sensitive[0].role is Role.SENSITIVE
    assert spec.columns[-1].coding is not None and spec.columns[-1].coding.top == 99
    assert (spec.privacy.k, spec.privacy.l, spec.privacy.max_suppression) == (10, 2, 0.01)


def test_the_hash_is_the_same_for_any_spelling_of_the_same_spec(tmp_path) -> None:
    as_json = json.dumps(yaml.safe_load(YAML), ensure_ascii=False, indent=4)
    path = tmp_path / "spec.json"
    path.write_text(as_json, encoding="utf-8")
    assert load_spec(path).sha256() == loads_spec(YAML).sha256()
    explicit = yaml.safe_load(YAML)
    explicit["columns"]["age"]["hierarchy"]["width"] = 10  # the default, spelled out
    assert parse_spec(explicit).sha256() == loads_spec(YAML).sha256()
    explicit["privacy"]["k"] = 11
    assert parse_spec(explicit).sha256() != loads_spec(YAML).sha256()


def test_to_dict_round_trips() -> None:
    spec = loads_spec(YAML)
    assert parse_spec(spec.to_dict()) == spec


def _with(path: str, value: Any) -> dict[str, Any]:
    """The YAML spec with one key set (``None`` deletes it)."""
    document = yaml.safe_load(YAML)
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "error_key", "message"),
    [
        ("purpose", None, "purpose", "is required"),
        ("purpose", "Risk Scoring", "purpose", "purpose code"),
        ("colour", "blue", "colour", "unknown key"),
        ("columns", [], "columns", "non-empty mapping"),
        ("columns.age.role", "secret", "columns.age.role", "one of identifier, quasi"),
        ("columns.age.hierarchy", None, "columns.age.hierarchy", "required for role quasi"),
        ("columns.age.hierarchy.type", "fuzzy", "columns.age.hierarchy.type", "one of age_bands"),
        ("columns.age.hierarchy.width", 0, "columns.age.hierarchy.width", "at least 1"),
        ("columns.age.hierarchy.widht", 5, "columns.age.hierarchy.widht", "unknown key"),
        ("columns.age.coding", {"top": 99}, "columns.age.coding", "does not apply to role quasi"),
        ("columns.income.hierarchy.edges", [0, 5000, 3000], "columns.income.hierarchy.edges", "increasing"),
        ("columns.income.hierarchy.edges", [0, "x"], "columns.income.hierarchy.edges[1]", "finite number"),
        ("columns.resident_id.hierarchy.level", "district", "columns.resident_id.hierarchy.level", "city"),
        (
            "columns.resident_id.hierarchy.release",
            "ancestor",
            "columns.resident_id.hierarchy.release",
            "values",
        ),
        ("columns.name.action", "mask", "columns.name.action", "drop, pseudonym"),
        ("columns.name.hierarchy", {"type": "suppress"}, "columns.name.hierarchy", "does not apply"),
        ("columns.debt_ratio.coding", {"top": 20}, "columns.debt_ratio.coding.top", "at least 50"),
        ("columns.debt_ratio.coding", {"bottom": 60}, "columns.debt_ratio.coding.bottom", "at most 50"),
        ("columns.debt_ratio.coding", {}, "columns.debt_ratio.coding", "needs bottom, top or both"),
        ("columns.debt_ratio.as", "region", "columns.debt_ratio.as", "already taken by resident_id"),
        ("columns.subject_id.role", "attribute", "columns.subject_id.role", "only be an identifier"),
        ("privacy.k", 1, "privacy.k", "at least 2"),
        ("privacy.k", True, "privacy.k", "must be an integer"),
        ("privacy.k", None, "privacy.k", "is required"),
        ("privacy.l", 11, "privacy.l", "must not exceed k"),
        ("privacy.max_suppression", 1.0, "privacy.max_suppression", "less than 1"),
        ("privacy.max_suppression", -0.1, "privacy.max_suppression", "at least 0"),
        ("population", {"subject_column": ""}, "population.subject_column", "non-empty string"),
    ],
)
def test_errors_name_the_key(path: str, value: Any, error_key: str, message: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(_with(path, value))
    assert error_key in caught.value.errors, caught.value.errors
    assert message in " ".join(caught.value.errors[error_key])
    assert error_key in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    document = _with("privacy.k", 1)
    document["columns"]["age"]["hierarchy"]["width"] = -3
    document["extra"] = 1
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(document)
    assert {"privacy.k", "columns.age.hierarchy.width", "extra"} <= set(caught.value.errors)


@pytest.mark.parametrize(
    ("columns", "error_key", "message"),
    [
        ({"a": {"role": "sensitive"}}, "columns", "at least one quasi column"),
        (
            {"a": {"role": "quasi", "hierarchy": {"type": "suppress"}}},
            "privacy.l",
            "needs at least one sensitive",
        ),
    ],
)
def test_cross_checks(columns: dict[str, Any], error_key: str, message: str) -> None:
    document = {"purpose": "risk_scoring", "columns": columns, "privacy": {"k": 5, "l": 2}}
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(document)
    assert message in " ".join(caught.value.errors[error_key])


@pytest.mark.parametrize(
    ("hierarchy", "error_key", "message"),
    [
        ({"type": "intervals"}, "h", "exactly one of width and edges"),
        ({"type": "intervals", "width": 5, "edges": [1, 2]}, "h", "exactly one of width and edges"),
        ({"type": "intervals", "width": 2.5, "integer": True}, "h.width", "whole number"),
        ({"type": "intervals", "edges": [1, 2], "origin": 3}, "h.origin", "only goes with width"),
        ({"type": "categories"}, "h.mapping", "non-empty mapping"),
        ({"type": "categories", "mapping": {"a": ["x"], "b": ["x"]}}, "h.mapping.b", "one category only"),
        ({"type": "categories", "mapping": {"a": []}}, "h.mapping.a", "non-empty list"),
        ({"type": "categories", "mapping": {"a": ["x"]}, "other": "a"}, "h.other", "differ from the mapped"),
        ({"type": "birth_year", "width": "ten"}, "h.width", "must be an integer"),
        ({"type": "suppress", "width": 1}, "h.width", "unknown key"),
        ("age_bands", "h", "must be a mapping with a type"),
        ({"width": 5}, "h.type", "is required"),
    ],
)
def test_hierarchy_errors(hierarchy: Any, error_key: str, message: str) -> None:
    from anonymize.extract._checks import Problems
    from anonymize.extract.hierarchies import parse_hierarchy

    problems = Problems()
    assert parse_hierarchy(hierarchy, "h", problems) is None or error_key in problems
    assert message in " ".join(problems[error_key])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("purpose: [unclosed", "not valid YAML or JSON at line 1"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
    ],
)
def test_not_a_spec_at_all(text: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        loads_spec(text)
