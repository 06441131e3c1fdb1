"""A bank's risk table: features from the bank's data platform, joined to the vault's population.

The spec's ``table`` names a Spark source (``format`` and ``path``) and the
join key the bank already holds: its column ``key`` holds either the subject
id (``matches: subject_id``) or a subject's deterministic token of a field
type (``matches: cn_resident_id``: the ``tkd_rid_...`` the bank received when
it tokenized). Columns read it with ``source: table.<column>``::

    engine: spark
    table: {path: /data/risk/2024q4, format: parquet, key: customer_token, matches: cn_resident_id}
    columns:
      balance:  {role: quasi, source: table.balance, hierarchy: {type: intervals, width: 10000}}
      grade:    {role: sensitive, source: table.credit_grade}

The vault decides who is in the extract; the table only supplies features.
Spark joins the table to the eligible subjects' keys and nothing else, so a
row of a subject the vault leaves out (no consent, restricted, erased) is
dropped by the join, on the executors, and never reaches the driver.

This module holds what needs no Spark: the spec's ``table`` and the rules
of table columns (:func:`parse_table`, :func:`check_columns`), and the
operator's checks before a job is queued (:func:`check_location`,
:func:`check_schema`). Reading and joining are :func:`anonymize.extract.spark.join_table`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from anonymize.extract import _checks as c

PREFIX = "table."  # a column's source in the risk table: table.<column>
SUBJECT_ID = "subject_id"  # matches: the table's key column holds subject ids
FORMATS = ("parquet", "orc")  # typed, columnar sources (a CSV's types would be guesses)
COLUMN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
_COLUMN = re.compile(COLUMN_PATTERN)
# An absolute path, or a URI a Spark cluster reads (hdfs://, s3a://, abfss://, file://).
PATH_PATTERN = r"(/|[a-z][a-z0-9+.-]{0,15}://)[^\x00-\x20]{0,1023}"
_PATH = re.compile(PATH_PATTERN)
_MATCHES = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class RiskTable:
    path: str
    key: str  # the table's column holding the join key
    matches: str  # SUBJECT_ID, or the field type whose deterministic token the key column holds
    format: str = "parquet"

    @property
    def by_token(self) -> str | None:
        """The field type of the deterministic token the key holds, or None when it holds subject ids."""
        return None if self.matches == SUBJECT_ID else self.matches

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "key": self.key, "matches": self.matches}


def column_of(source: str) -> str | None:
    """The table column a spec column's ``source`` reads (``table.balance`` -> ``balance``), or None."""
    return source[len(PREFIX) :] if source.startswith(PREFIX) else None


def parse_table(raw: Any, engine: str | None, problems: c.Problems) -> RiskTable | None:
    """The spec's ``table``, its problems recorded under ``table.*``."""
    if engine is not None and engine != "spark":
        problems.add("table", "is for engine: spark only")
        return None
    options = c.mapping(
        raw,
        "table",
        problems,
        allowed=frozenset({"path", "format", "key", "matches"}),
        required=frozenset({"path", "key", "matches"}),
    )
    if options is None:
        return None
    path = c.text(options["path"], "table.path", problems, max_length=1024)
    if path is not None and (not _PATH.fullmatch(path) or ".." in path.split("/")):
        problems.add("table.path", "must be an absolute path or a URI, without '..'")
        path = None
    fmt = c.choice(options.get("format", "parquet"), "table.format", problems, FORMATS)
    key = options["key"]
    if not isinstance(key, str) or not _COLUMN.fullmatch(key):
        problems.add("table.key", "must be a column name (letters, digits and _)")
        key = None
    matches = options["matches"]
    if not isinstance(matches, str) or not _MATCHES.fullmatch(matches):
        problems.add("table.matches", "must be subject_id or a field type code")
        matches = None
    if path is None or fmt is None or key is None or matches is None:
        return None
    return RiskTable(path=path, key=key, matches=matches, format=fmt)


def check_columns(
    columns: Iterable[Any], table: RiskTable | None, table_given: bool, problems: c.Problems
) -> None:
    """The rules of columns that read the table (``source: table.<column>``).

    Such a column needs a ``table``, names a column (letters, digits and _), is
    a quasi-identifier, a sensitive value or an attribute (never an identifier:
    the bank's own ids stay in the bank), and never reads the join key.
    """
    for col in columns:
        name = column_of(col.source)
        if name is None:
            continue
        path = f"columns.{col.name}.source"
        if not table_given:
            problems.add(path, "reads the risk table: the spec needs a table")
        if not _COLUMN.fullmatch(name):
            problems.add(path, "must be table.<column> (letters, digits and _)")
        if str(col.role) == "identifier":
            problems.add(f"columns.{col.name}.role", "a table column may be quasi, sensitive or attribute")
        if table is not None and name == table.key:
            problems.add(path, "the table's join key is never released")


def table_columns(columns: Iterable[Any]) -> list[str]:
    """The table columns a spec's released columns read, once each, in order."""
    return list(dict.fromkeys(n for col in columns if (n := column_of(col.source)) is not None))


def check_location(table: RiskTable, roots: Collection[str]) -> None:
    """The table must lie under a root the operator allows (``PIIVAULT_EXTRACT_TABLE_ROOTS``).

    Otherwise an analyst could have the vault's Spark read any file the vault
    may read. Raises InvalidSpec naming ``table.path``.
    """
    from anonymize.extract.errors import InvalidSpec

    path = _normal(table.path)
    for root in roots:
        base = _normal(root).rstrip("/") + "/"
        if path.startswith(base):
            return
    raise InvalidSpec(
        {"table.path": "is not under a table root this vault may read (PIIVAULT_EXTRACT_TABLE_ROOTS)"}
    )


def _normal(path: str) -> str:
    """A local path with its symbolic links resolved (a link under a root may point outside it);
    a URI's path normalized."""
    scheme, sep, rest = path.partition("://")
    if not sep:
        return os.path.realpath(path)
    if scheme == "file":
        return os.path.realpath(rest)
    return f"{scheme}://{posixpath.normpath(rest)}"


def check_schema(table: RiskTable, columns: Iterable[Any]) -> None:
    """A local table must exist and hold the key and every column read (read from its schema only).

    Remote tables (URIs) are checked when the job reads them. Raises InvalidSpec
    naming ``table.path``, ``table.key`` or the column's ``source``.
    """
    from anonymize.extract.errors import InvalidSpec

    if "://" in table.path and not table.path.startswith("file://"):
        return
    import pyarrow.dataset as ds

    try:
        schema = ds.dataset(table.path.removeprefix("file://"), format=table.format).schema
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidSpec({"table.path": f"is not a readable {table.format} table"}) from None
    problems = c.Problems()
    names = set(schema.names)
    if table.key not in names:
        problems.add("table.key", "no such column in the table")
    for col in columns:
        name = column_of(col.source)
        if name is not None and name not in names:
            problems.add(f"columns.{col.name}.source", "no such column in the table")
    if problems:
        raise InvalidSpec(problems)


def describe(table: RiskTable, matched: int, unmatched: int) -> Mapping[str, Any]:
    """The report's account of the join: the table read, how it matched (no path: it may name things)."""
    return {
        "format": table.format,
        "key": table.key,
        "matches": table.matches,
        "rows_joined": matched,
        "eligible_without_row": unmatched,
    }
