"""The extract spec as a JSON schema (the OpenAPI 3.0 dialect), for clients to validate against.

Built from the same tables :mod:`anonymize.extract.spec_parser` and
:mod:`anonymize.extract.hierarchies` validate with, so the two cannot drift
apart: every key, role, action, hierarchy type and option, with unknown keys
rejected (``additionalProperties: false``). A few rules are beyond a schema
and are checked by :func:`~anonymize.extract.spec_parser.parse_spec` and the vault
only: column names of 1-64 printable characters, ``l`` not above ``k``, at
least one quasi column, output names unique, and what the vault knows (the
purpose, sources, direct identifiers).
"""

from __future__ import annotations

from typing import Any

from anonymize.extract import spec as s
from anonymize.extract import table as t
from anonymize.extract.domain import Release
from anonymize.extract.trees import DEFAULT_OTHER, Region

_NAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\\x00-\\x1f]{1,64}$"}
_NUMBERS = {"type": "array", "minItems": 1, "items": {"type": "number"}}
_RELEASE = {
    "type": "string",
    "enum": [Release.CHILDREN.value, Release.VALUES.value],
    "default": Release.CHILDREN.value,
    "description": "children: the children of the common ancestor a class spans; values: its leaves",
}
_WIDTH = {"type": "integer", "minimum": 1}
# A non-empty string that is not only whitespace.
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^\\s*\\S[\\s\\S]*$"}
# The options of each hierarchy type: the keys hierarchies.HIERARCHY_KEYS accepts (a test compares them).
_HIERARCHY_OPTIONS: dict[str, dict[str, Any]] = {
    "age_bands": {"width": _WIDTH | {"default": 10, "description": "years per band"}},
    "birth_year": {"width": _WIDTH | {"default": 1, "description": "years per band"}},
    "region": {
        "source": {"type": "string", "enum": list(Region.SOURCES), "default": "resident_id"},
        "level": {"type": "string", "enum": list(Region.LEVELS), "default": "city"},
        "release": _RELEASE,
    },
    "gender": {},
    "income_bands": {"edges": _NUMBERS | {"description": "band edges in yuan, strictly increasing"}},
    "intervals": {
        "width": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        "origin": {"type": "number", "default": 0},
        "edges": _NUMBERS | {"description": "strictly increasing"},
        "integer": {"type": "boolean", "default": False, "description": "inclusive integer bands"},
    },
    "categories": {
        "mapping": {
            "type": "object",
            "minProperties": 1,
            "description": "category -> its values (a value in one category only)",
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [{"type": "string"}, {"type": "number"}]},
            },
        },
        "other": _TEXT
        | {
            "nullable": True,
            "default": DEFAULT_OTHER,
            "description": "the category of unmapped values; null: they cannot be placed",
        },
        "release": _RELEASE,
    },
    "suppress": {},
}
_REQUIRED_OPTIONS = {"categories": ["mapping"]}


def _hierarchy(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", *_REQUIRED_OPTIONS.get(kind, [])],
        "properties": {"type": {"type": "string", "enum": [kind]}, **_HIERARCHY_OPTIONS[kind]},
    }
    if kind == "intervals":
        schema["oneOf"] = [{"required": ["width"]}, {"required": ["edges"]}]
    return schema


_RECODING: dict[str, Any] = {"type": "string", "enum": [str(r) for r in s.Recoding]}


def _column(role: s.Role) -> dict[str, Any]:
    options: dict[str, Any] = {
        "action": {
            "type": "string",
            "enum": [str(a) for a in s.IdentifierAction],
            "default": str(s.IdentifierAction.DROP),
        },
        "hierarchy": {"oneOf": [_hierarchy(kind) for kind in _HIERARCHY_OPTIONS]},
        "coding": {
            "type": "object",
            "nullable": True,
            "additionalProperties": False,
            "minProperties": 1,
            "description": "top/bottom coding at these percentiles",
            "properties": {
                "bottom": {"type": "number", "minimum": 0, "maximum": 50, "nullable": True},
                "top": {"type": "number", "minimum": 50, "maximum": 100, "nullable": True},
            },
        },
        "recoding": _RECODING | {"description": "this column's recoding (default: privacy.recoding)"},
    }
    keys = s.ROLE_KEYS[role]
    properties: dict[str, Any] = {
        "role": {"type": "string", "enum": [str(role)]},
        "as": _NAME | {"description": "the column's name in the output (default: its own)"},
        "source": _NAME
        | {"description": "the subject column, a field type code or a stored attribute (default: its name)"},
    }
    properties |= {key: options[key] for key in sorted(keys - set(properties))}
    required = ["role", "hierarchy"] if role is s.Role.QUASI else ["role"]
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def spec_schema() -> dict[str, Any]:
    """The JSON schema of an extract spec (OpenAPI 3.0 schema object)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["purpose", "columns", "privacy"],
        # spark options only with engine: spark (OpenAPI 3.0 has no if/then)
        "anyOf": [
            {"not": {"anyOf": [{"required": ["spark"]}, {"required": ["table"]}]}},
            {"required": ["engine"], "properties": {"engine": {"enum": ["spark"]}}},
        ],
        "properties": {
            "purpose": {"type": "string", "pattern": f"^{s.PURPOSE_PATTERN}$", "maxLength": 64},
            "description": {"type": "string", "maxLength": s.MAX_DESCRIPTION, "default": ""},
            "expires_in_days": {
                "type": "integer",
                "minimum": 1,
                "maximum": s.MAX_EXPIRES_IN_DAYS,
                "default": s.DEFAULT_EXPIRES_IN_DAYS,
                "description": "the files are deleted and the pseudonym key destroyed then",
            },
            "population": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "subject_column": _TEXT | {"default": "subject_id"},
                },
            },
            "columns": {
                "type": "object",
                "minProperties": 1,
                "description": "column name (1-64 printable characters) -> its role and treatment; "
                "columns not named are never released",
                "additionalProperties": {"oneOf": [_column(role) for role in s.Role]},
            },
            "engine": {
                "type": "string",
                "enum": list(s.ENGINES),
                "default": "local",
                "description": "local: one process; spark: fragments partitioned on Spark executors",
            },
            "spark": {
                "type": "object",
                "additionalProperties": False,
                "description": "engine: spark only",
                "properties": {
                    "master": {
                        "type": "string",
                        "pattern": f"^({s.SPARK_MASTER_PATTERN})$",
                        "default": s.Engine.master,
                    },
                    "fragment_rows": {
                        "type": "integer",
                        "minimum": 1000,
                        "default": s.DEFAULT_FRAGMENT_ROWS,
                        "description": "the most rows one executor task partitions",
                    },
                    "sample_rows": {
                        "type": "integer",
                        "minimum": 1000,
                        "default": s.DEFAULT_SAMPLE_ROWS,
                        "description": "rows the driver samples for the first cuts",
                    },
                    "part_rows": {
                        "type": "integer",
                        "minimum": 1000,
                        "default": s.DEFAULT_PART_ROWS,
                        "description": "the most rows of one output file (extract-00000.parquet, ...)",
                    },
                    "csv": {
                        "type": "boolean",
                        "default": False,
                        "description": "CSV files beside the Parquet ones",
                    },
                },
            },
            "table": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path", "key", "matches"],
                "description": "engine: spark only: a bank's risk table joined to the consenting population; "
                "columns read it with source table.<column>",
                "properties": {
                    "path": {
                        "type": "string",
                        "pattern": f"^{t.PATH_PATTERN}$",
                        "not": {"pattern": "(^|/)[.][.](/|$)"},
                        "maxLength": 1024,
                    },
                    "format": {"type": "string", "enum": list(t.FORMATS), "default": "parquet"},
                    "key": {"type": "string", "pattern": f"^{t.COLUMN_PATTERN}$"},
                    "matches": {
                        "type": "string",
                        "pattern": "^[a-z][a-z0-9_]{0,63}$",
                        "description": "subject_id, or the field type of the deterministic token in key",
                    },
                },
            },
            "csv": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "bom": {
                        "type": "boolean",
                        "default": False,
                        "description": "open extract.csv with a UTF-8 BOM (Excel on Chinese Windows)",
                    },
                },
            },
            "report": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "language": {
                        "type": "string",
                        "enum": list(s.REPORT_LANGUAGES),
                        "default": s.DEFAULT_REPORT_LANGUAGE,
                        "description": "the language of report.html (report.zh-CN.html and "
                        "report.en.html are both written)",
                    },
                },
            },
            "privacy": {
                "type": "object",
                "additionalProperties": False,
                "required": ["k"],
                "properties": {
                    "k": {"type": "integer", "minimum": 2, "description": "the fewest rows of a class"},
                    "l": {
                        "type": "integer",
                        "minimum": 1,
                        "default": 1,
                        "description": "distinct values of each sensitive column per class (at most k)",
                    },
                    "max_suppression": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "exclusiveMaximum": True,
                        "default": 0,
                        "description": "the share of rows that may be left out",
                    },
                    "recoding": _RECODING
                    | {
                        "default": str(s.Recoding.LOCAL),
                        "description": "local: Mondrian, each class as little as it needs; global: "
                        "every row of a quasi column at one level of its hierarchy (engine: local only)",
                    },
                },
            },
        },
    }


def hierarchy_types() -> dict[str, frozenset[str]]:
    """Each hierarchy type and the options the schema lists for it (to check against the parser's)."""
    return {kind: frozenset(options) for kind, options in _HIERARCHY_OPTIONS.items()}
