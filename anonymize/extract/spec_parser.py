"""Parsing an extract spec: from a YAML or JSON document to an :class:`ExtractSpec`.

:func:`parse_spec` reports every problem at once in :class:`InvalidSpec`,
keyed by the path of the offending key; given a ``vet`` (the checks against
the vault: purpose, sources, direct identifiers), it runs them on whatever
parsed, so their problems come in the same answer as the spec's own. What a
spec means, and its limits and defaults, are :mod:`anonymize.extract.spec`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from anonymize.extract import _checks as c
from anonymize.extract.errors import InvalidSpec
from anonymize.extract.hierarchies import parse_hierarchy
from anonymize.extract.spec import (
    DEFAULT_EXPIRES_IN_DAYS,
    DEFAULT_FRAGMENT_ROWS,
    DEFAULT_PART_ROWS,
    DEFAULT_REPORT_LANGUAGE,
    DEFAULT_SAMPLE_ROWS,
    ENGINES,
    MAX_DESCRIPTION,
    MAX_EXPIRES_IN_DAYS,
    MAX_SPEC_BYTES,
    PURPOSE_PATTERN,
    REPORT_LANGUAGES,
    ROLE_KEYS,
    SPARK_MASTER_PATTERN,
    Coding,
    Column,
    Engine,
    ExtractSpec,
    IdentifierAction,
    PrivacyModel,
    Recoding,
    Role,
    SpecDraft,
)
from anonymize.extract.table import check_columns, parse_table

_PURPOSE = re.compile(PURPOSE_PATTERN)
_NAME = re.compile(r"[^\x00-\x1f]{1,64}")
_SPARK_MASTER = re.compile(SPARK_MASTER_PATTERN)
_SPARK_OPTIONS = frozenset({"master", "fragment_rows", "sample_rows", "part_rows", "csv"})

Vet = Callable[[SpecDraft, c.Problems], None]

_TOP = frozenset(
    {
        "purpose",
        "description",
        "expires_in_days",
        "population",
        "columns",
        "privacy",
        "engine",
        "spark",
        "csv",
        "report",
        "table",
    }
)
_COLUMN = frozenset({"role", "as", "source", "action", "hierarchy", "coding", "recoding"})


def parse_spec(raw: Any, *, vet: Vet | None = None) -> ExtractSpec:
    """Validate a spec mapping (as loaded from YAML or JSON).

    ``vet`` records further problems of what parsed (checks against the vault).
    Raises :class:`~anonymize.extract.errors.InvalidSpec` listing every problem by key path.
    """
    problems = c.Problems()
    if not isinstance(raw, Mapping):
        raise InvalidSpec({"spec": "must be a mapping"})
    top = c.mapping(raw, "", problems, allowed=_TOP) or {}
    for key in ("purpose", "columns", "privacy"):
        if key not in top:
            problems.add(key, "is required")
    purpose = c.text(top.get("purpose"), "purpose", problems, max_length=64) if "purpose" in top else None
    if purpose is not None and not _PURPOSE.fullmatch(purpose):
        problems.add("purpose", "must be a purpose code: lowercase letters, digits and _")
        purpose = None
    description = top.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        problems.add("description", f"must be a string of at most {MAX_DESCRIPTION} characters")
    expires = c.integer(
        top.get("expires_in_days", DEFAULT_EXPIRES_IN_DAYS), "expires_in_days", problems, minimum=1
    )
    if expires is not None and expires > MAX_EXPIRES_IN_DAYS:
        problems.add("expires_in_days", f"must be at most {MAX_EXPIRES_IN_DAYS}")
    subject_column = _population(top.get("population", {}), problems)
    columns = _columns(top["columns"], problems) if "columns" in top else None
    privacy = _privacy(top["privacy"], problems) if "privacy" in top else None
    engine = _engine(top.get("engine", "local"), top.get("spark"), problems)
    csv_bom = _csv_options(top.get("csv", {}), problems)
    report_language = _report_options(top.get("report", {}), problems)
    table = parse_table(top["table"], engine.name if engine else None, problems) if "table" in top else None
    if columns is not None:
        for col in columns:
            if col.source == subject_column and col.role is not Role.IDENTIFIER:
                problems.add(f"columns.{col.name}.role", "the subject column can only be an identifier")
        check_columns(columns, table, "table" in top, problems)
        if not any(path.startswith("columns") for path in problems):
            _cross_checks(columns, privacy, problems)
        if engine is not None and engine.name != "local" and _any_global(columns, privacy):
            # The Spark runner partitions fragments on executors by Mondrian alone: it cannot
            # hold a column at one level across fragments, so it refuses rather than pretend.
            problems.add("engine", "global recoding runs on engine: local only")
    if vet is not None:
        vet(SpecDraft(purpose, tuple(columns or ()), subject_column or "subject_id", table), problems)
    if problems:
        raise InvalidSpec(problems)
    assert purpose is not None and columns is not None and privacy is not None and subject_column is not None
    assert expires is not None and engine is not None
    return ExtractSpec(
        csv_bom=csv_bom,
        report_language=report_language,
        engine=engine,
        table=table,
        purpose=purpose,
        description=description,
        columns=tuple(columns),
        privacy=privacy,
        subject_column=subject_column,
        expires_in_days=expires,
    )


def _csv_options(raw: Any, problems: c.Problems) -> bool:
    """``csv: {bom: true}`` opens extract.csv with a UTF-8 byte order mark."""
    options = c.mapping(raw, "csv", problems, allowed=frozenset({"bom"})) or {}
    bom = options.get("bom", False)
    if not isinstance(bom, bool):
        problems.add("csv.bom", "must be true or false")
        return False
    return bom


def _report_options(raw: Any, problems: c.Problems) -> str:
    """``report: {language: en}``: the language of report.html (default zh-CN)."""
    options = c.mapping(raw, "report", problems, allowed=frozenset({"language"})) or {}
    language = c.choice(
        options.get("language", DEFAULT_REPORT_LANGUAGE), "report.language", problems, REPORT_LANGUAGES
    )
    return language or DEFAULT_REPORT_LANGUAGE


def read_document(text: str | bytes) -> Any:
    """The YAML (or JSON, a subset of YAML) document of a spec, not yet validated.

    Raises :class:`~anonymize.extract.errors.InvalidSpec` if it is too large or not YAML.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise InvalidSpec({"spec": f"must be at most {MAX_SPEC_BYTES} bytes"})
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidSpec({"spec": f"is not valid YAML or JSON{where}"}) from None


def loads_spec(text: str | bytes) -> ExtractSpec:
    """Parse a YAML (or JSON, a subset of YAML) spec.

    Raises :class:`~anonymize.extract.errors.InvalidSpec` if it is not YAML or not a valid spec.
    """
    return parse_spec(read_document(text))


def load_spec(path: str | Path) -> ExtractSpec:
    """Read and parse a spec file.

    Raises :class:`OSError` if it cannot be read, :class:`InvalidSpec` if it is invalid.
    """
    return loads_spec(Path(path).read_bytes())


def _population(raw: Any, problems: c.Problems) -> str | None:
    population = c.mapping(raw, "population", problems, allowed=frozenset({"subject_column"}))
    if population is None:
        return None
    name = c.text(population.get("subject_column", "subject_id"), "population.subject_column", problems)
    return name


def _columns(raw: Any, problems: c.Problems) -> list[Column] | None:
    if not isinstance(raw, Mapping) or not raw:
        problems.add("columns", "must be a non-empty mapping of column name -> column spec")
        return None
    columns: list[Column] = []
    for name, spec in raw.items():
        path = f"columns.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.add(path, "column names must be 1-64 printable characters")
            continue
        column = _column(name, spec, path, problems)
        if column is not None:
            columns.append(column)
    return columns


def _column(name: str, raw: Any, path: str, problems: c.Problems) -> Column | None:
    spec = c.mapping(raw, path, problems, allowed=_COLUMN, required=frozenset({"role"}))
    if spec is None:
        return None
    role_text = c.choice(spec["role"], c.join(path, "role"), problems, tuple(Role))
    if role_text is None:
        return None
    role = Role(role_text)
    for key in spec:
        if key not in ROLE_KEYS[role]:
            problems.add(c.join(path, key), f"does not apply to role {role}")
    output = spec.get("as", name)
    if not isinstance(output, str) or not _NAME.fullmatch(output):
        problems.add(c.join(path, "as"), "must be 1-64 printable characters")
        return None
    source = spec.get("source", name)
    if not isinstance(source, str) or not _NAME.fullmatch(source):
        problems.add(c.join(path, "source"), "must be 1-64 printable characters")
        return None
    if role is Role.IDENTIFIER:
        actions = tuple(IdentifierAction)
        action = c.choice(spec.get("action", "drop"), c.join(path, "action"), problems, actions)
        if action is None:
            return None
        return Column(name, role, output, action=IdentifierAction(action), source=source)
    if role is Role.QUASI:
        if "hierarchy" not in spec:
            problems.add(c.join(path, "hierarchy"), "is required for role quasi")
            return None
        hierarchy = parse_hierarchy(spec["hierarchy"], c.join(path, "hierarchy"), problems)
        recoding = None
        if "recoding" in spec:
            chosen = c.choice(spec["recoding"], c.join(path, "recoding"), problems, tuple(Recoding))
            if chosen is None:
                return None
            recoding = Recoding(chosen)
        if hierarchy is None:
            return None
        return Column(name, role, output, hierarchy=hierarchy, source=source, recoding=recoding)
    if role is Role.ATTRIBUTE and spec.get("coding") is not None:
        coding = _coding(spec["coding"], c.join(path, "coding"), problems)
        return None if coding is None else Column(name, role, output, coding=coding, source=source)
    return Column(name, role, output, source=source)


def _coding(raw: Any, path: str, problems: c.Problems) -> Coding | None:
    spec = c.mapping(raw, path, problems, allowed=frozenset({"bottom", "top"}))
    if spec is None:
        return None
    if not spec:
        problems.add(path, "needs bottom, top or both (percentiles)")
        return None
    bottom = top = None
    if spec.get("bottom") is not None:
        bottom = c.number(spec["bottom"], c.join(path, "bottom"), problems, minimum=0, maximum=50)
        if bottom is None:
            return None
    if spec.get("top") is not None:
        top = c.number(spec["top"], c.join(path, "top"), problems, minimum=50, maximum=100)
        if top is None:
            return None
    if bottom is None and top is None:
        problems.add(path, "needs bottom, top or both (percentiles)")
        return None
    return Coding(bottom=bottom, top=top)


def _privacy(raw: Any, problems: c.Problems) -> PrivacyModel | None:
    spec = c.mapping(
        raw,
        "privacy",
        problems,
        allowed=frozenset({"k", "l", "max_suppression", "recoding"}),
        required=frozenset({"k"}),
    )
    if spec is None:
        return None
    k = c.integer(spec["k"], "privacy.k", problems, minimum=2)
    l_value = c.integer(spec.get("l", 1), "privacy.l", problems, minimum=1)
    suppression = c.number(
        spec.get("max_suppression", 0.0),
        "privacy.max_suppression",
        problems,
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    recoding = c.choice(spec.get("recoding", "local"), "privacy.recoding", problems, tuple(Recoding))
    if k is None or l_value is None or suppression is None or recoding is None:
        return None
    if l_value > k:
        problems.add("privacy.l", "must not exceed k (a class of k rows holds at most k distinct values)")
        return None
    return PrivacyModel(k=k, l=l_value, max_suppression=float(suppression), recoding=Recoding(recoding))


def _engine(name: Any, raw: Any, problems: c.Problems) -> Engine | None:
    chosen = c.choice(name, "engine", problems, ENGINES)
    if raw is None:
        return Engine(name=chosen) if chosen is not None else None
    if chosen != "spark":
        problems.add("spark", "is for engine: spark only")
        return None
    options = c.mapping(raw, "spark", problems, allowed=_SPARK_OPTIONS)
    if options is None:
        return None
    master = c.text(options.get("master", Engine.master), "spark.master", problems)
    if master is not None and not _SPARK_MASTER.fullmatch(master):
        problems.add("spark.master", "must be local[N], local[*], spark://host:port, yarn or k8s://URL")
        master = None
    fragment_rows = c.integer(
        options.get("fragment_rows", DEFAULT_FRAGMENT_ROWS), "spark.fragment_rows", problems, minimum=1000
    )
    sample_rows = c.integer(
        options.get("sample_rows", DEFAULT_SAMPLE_ROWS), "spark.sample_rows", problems, minimum=1000
    )
    part_rows = c.integer(
        options.get("part_rows", DEFAULT_PART_ROWS), "spark.part_rows", problems, minimum=1000
    )
    csv = c.boolean(options.get("csv", False), "spark.csv", problems)
    if master is None or fragment_rows is None or sample_rows is None or part_rows is None or csv is None:
        return None
    return Engine("spark", master, fragment_rows, sample_rows, part_rows, csv)


def _any_global(columns: list[Column], privacy: PrivacyModel | None) -> bool:
    default = privacy.recoding if privacy is not None else Recoding.LOCAL
    return any((col.recoding or default) is Recoding.GLOBAL for col in columns if col.role is Role.QUASI)


def _cross_checks(columns: list[Column], privacy: PrivacyModel | None, problems: c.Problems) -> None:
    if not any(col.role is Role.QUASI for col in columns):
        problems.add("columns", "needs at least one quasi column")
    if privacy is not None and privacy.l > 1 and not any(col.role is Role.SENSITIVE for col in columns):
        problems.add("privacy.l", "l above 1 needs at least one sensitive column")
    outputs: dict[str, str] = {}
    for col in columns:
        if not col.released:
            continue
        if col.output in outputs:
            problems.add(f"columns.{col.name}.as", f"output name already taken by {outputs[col.output]}")
        outputs[col.output] = col.name
