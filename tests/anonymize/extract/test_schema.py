"""The extract spec's JSON schema (in the OpenAPI document) accepts what the parser accepts, rejects
unknown keys, and the documented examples and job states are the real ones."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from anonymize.extract import InvalidSpec, parse_spec, spec_parser
from anonymize.extract import spec as s
from anonymize.extract.hierarchies import HIERARCHY_KEYS
from anonymize.extract.schema import hierarchy_types, spec_schema
from anonymize.extract.tables import STATES
from api.extracts import SPEC_EXAMPLE
from tests.anonymize.extract.conftest import SPEC
from tests.api_extracts.conftest import SPEC as HTTP_SPEC

ROOT = Path(__file__).resolve().parents[3]
VALIDATOR = OAS30Validator(spec_schema())


def _documented_specs() -> list[Any]:
    """Every YAML block of the README and docs/extracts.md that is a spec."""
    found = []
    for path in (ROOT / "README.md", ROOT / "docs" / "extracts.md"):
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            document = yaml.safe_load(textwrap.dedent(block))  # the README's block is in a list item
            if isinstance(document, dict) and "purpose" in document:
                found.append(document)
    return found


def test_the_schema_lists_the_keys_the_parser_takes() -> None:
    schema = spec_schema()
    assert hierarchy_types() == HIERARCHY_KEYS
    assert set(schema["properties"]) == spec_parser._TOP
    variants = schema["properties"]["columns"]["additionalProperties"]["oneOf"]
    assert {v["properties"]["role"]["enum"][0]: set(v["properties"]) for v in variants} == {
        str(role): set(keys) for role, keys in s.ROLE_KEYS.items()
    }


def test_the_documented_examples_are_valid_specs() -> None:
    documented = _documented_specs()
    assert len(documented) == 3  # the README's, docs/extracts.md's complete one and its risk table's
    for document in [*documented, SPEC_EXAMPLE, SPEC, HTTP_SPEC]:
        VALIDATOR.validate(document)
        parse_spec(document)


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "blue"},
        {"privacy": {"k": 1}},
        {"privacy": {"k": 5, "epsilon": 1}},
        {"expires_in_days": 366},
        {"purpose": "Risk Scoring"},
        {"population": {"subject_column": "   "}},
        {"columns": {"age": {"role": "quasi"}}},
        {"columns": {"age": {"role": "quasi", "hierarchy": {"type": "age_bands", "colour": 1}}}},
        {"columns": {"age": {"role": "quasi", "hierarchy": {"type": "intervals", "width": 1, "edges": [1]}}}},
        {"columns": {"age": {"role": "quasi", "hierarchy": {"type": "tree"}}}},
        {"columns": {"age": {"role": "quasi", "action": "drop", "hierarchy": {"type": "suppress"}}}},
        {"columns": {"x": {"role": "identifier", "action": "mask"}}},
        {"columns": {"x": {"role": "owner"}}},
        {"columns": {"x": {"role": "attribute", "coding": {"top": 20}}}},
        {"columns": {}},
    ],
)
def test_what_the_parser_refuses_the_schema_refuses(change: dict[str, Any]) -> None:
    document = SPEC_EXAMPLE | change
    assert not VALIDATOR.is_valid(document)
    with pytest.raises(InvalidSpec):
        parse_spec(document)


def test_the_documented_job_states_are_the_apis() -> None:
    text = (ROOT / "docs" / "extracts.md").read_text(encoding="utf-8")
    section = text.split("## Job states", 1)[1].split("\n## ", 1)[0]
    assert tuple(re.findall(r"^\| `(\w+)` \|", section, re.M)) == STATES
    assert "completed" not in section
