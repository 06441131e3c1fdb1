"""The spec's ``engine`` and ``spark`` keys: every problem named, and the JSON schema in step."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from anonymize.extract import InvalidSpec, parse_spec
from anonymize.extract.schema import spec_schema
from tests.anonymize.extract.conftest import SPEC

VALIDATOR = OAS30Validator(spec_schema())


def with_keys(**keys: Any) -> dict[str, Any]:
    return copy.deepcopy(SPEC) | keys


def test_the_local_engine_is_the_default_and_hashes_as_before() -> None:
    plain = parse_spec(SPEC)
    explicit = parse_spec(with_keys(engine="local"))
    assert plain.engine.name == explicit.engine.name == "local"
    assert plain.sha256() == explicit.sha256()
    assert "engine" not in plain.to_dict()


@pytest.mark.parametrize("master", ["local", "local[2]", "local[*]", "spark://head.bank:7077", "yarn"])
def test_spark_engine_with_a_master(master: str) -> None:
    document = with_keys(engine="spark", spark={"master": master, "fragment_rows": 5000})
    spec = parse_spec(document)
    assert (spec.engine.name, spec.engine.master, spec.engine.fragment_rows) == ("spark", master, 5000)
    assert spec.to_dict()["spark"]["master"] == master
    assert spec.sha256() != parse_spec(SPEC).sha256()
    VALIDATOR.validate(document)


@pytest.mark.parametrize(
    ("keys", "path"),
    [
        ({"engine": "dask"}, "engine"),
        ({"engine": 1}, "engine"),
        ({"spark": {"master": "local[2]"}}, "spark"),  # spark options without engine: spark
        ({"engine": "spark", "spark": {"master": "http://evil/"}}, "spark.master"),
        ({"engine": "spark", "spark": {"master": "local[2] --conf x"}}, "spark.master"),
        ({"engine": "spark", "spark": {"executors": 4}}, "spark.executors"),
        ({"engine": "spark", "spark": {"fragment_rows": 10}}, "spark.fragment_rows"),
        ({"engine": "spark", "spark": {"sample_rows": "many"}}, "spark.sample_rows"),
        ({"engine": "spark", "spark": "local[2]"}, "spark"),
    ],
)
def test_bad_engine_settings_are_named(keys: dict[str, Any], path: str) -> None:
    document = with_keys(**keys)
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(document)
    assert path in caught.value.errors
    assert not VALIDATOR.is_valid(document)
