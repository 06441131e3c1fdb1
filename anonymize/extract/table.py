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

import dataclasses
import glob
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anonymize.extract import _checks as c

if TYPE_CHECKING:
    import pandas as pd

PREFIX = "table."  # a column's source in the risk table: table.<column>
SUBJECT_ID = "subject_id"  # matches: the table's key column holds subject ids
FORMATS = ("parquet", "orc")  # typed, columnar sources (a CSV's types would be guesses)
COLUMN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
_COLUMN = re.compile(COLUMN_PATTERN)
# The URI schemes a table may be read from: the local file system (file:///path, no host) and a
# cluster's storage. Any other scheme, or a host on file://, is refused: Spark's file system
# would read file://localhost/etc/... as /etc/..., whatever the roots say.
REMOTE_SCHEMES = ("hdfs", "s3a", "abfss")
# Never in a path: Hadoop expands {a,b} (and {.,.}. to ..) and reads \ escapes and %-escapes,
# so what it would read is not what the check sees.
_UNREAD = "{}\\%"
_GLOB = "*?["  # a local path's glob, expanded by the check (Spark reads the files it found)
# An absolute path or file:///path (a glob allowed), or a cluster's URI (no glob).
PATH_PATTERN = (
    rf"(?:(?:/|file:///)[^\x00-\x20{re.escape(_UNREAD)}]{{0,1023}}"
    rf"|(?:{'|'.join(REMOTE_SCHEMES)})://[^\x00-\x20{re.escape(_UNREAD + _GLOB)}\]]{{1,1023}})"
)
_PATH = re.compile(PATH_PATTERN)
MAX_FILES = 100_000  # entries a local table's check walks at most (a table of more is refused)
_MATCHES = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class RiskTable:
    path: str
    key: str  # the table's column holding the join key
    matches: str  # SUBJECT_ID, or the field type whose deterministic token the key column holds
    format: str = "parquet"
    # What Spark reads: the files check_location found (no directory: Spark lists nothing itself);
    # empty: ``path`` as it is (a cluster's URI). Not part of the spec (nor of its hash), nor are
    # the two below.
    read: tuple[str, ...] = ()
    # The checked directory whose sub-directories' names (grade=A/) are partition columns: Spark's
    # basePath. Empty: no partition columns (a file, a glob, or a cluster's URI).
    base: str = ""
    # (path, st_dev, st_ino) of every directory and file the check met, links never followed: what
    # Spark's read must still find (:func:`verify_unchanged`).
    identity: tuple[tuple[str, int, int], ...] = ()

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
    if path is not None and (problem := _path_problem(path)) is not None:
        problems.add("table.path", problem)
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


def _path_problem(path: str) -> str | None:
    """Why ``path`` cannot name a table (the rule the first failed), or None."""
    scheme, sep, rest = path.partition("://")
    if sep and scheme == "file" and not rest.startswith("/"):
        return "a file:// URI must not name a host: file:///path"
    if sep and scheme != "file" and scheme not in REMOTE_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in ("file", *REMOTE_SCHEMES))
        return f"must be an absolute path or a URI of {schemes}"
    if any(ch in path for ch in _UNREAD):
        return "must not hold '{', '}', '\\' or '%'"
    if sep and scheme != "file" and any(ch in rest for ch in _GLOB + "]"):
        return "a glob ('*', '?', '[') is for local tables only: name the table's directory"
    if ".." in path.split("/"):
        return "must not hold '..'"
    if not _PATH.fullmatch(path):
        return "must be an absolute path or a URI"
    return None


def check_location(table: RiskTable, roots: Collection[str]) -> tuple[str, ...]:
    """The files Spark is to read for ``table`` (:func:`checked`, the files only)."""
    return _locate(table, roots)[0]


def checked(table: RiskTable, roots: Collection[str]) -> RiskTable:
    """``table`` checked against the roots, with what its job is to read: the files
    (``read``), the directory partition columns are read under (``base``) and the identity of
    every directory and file the check met (``identity``). Raises InvalidSpec as
    :func:`check_location` does."""
    read, base, identity = _locate(table, roots)
    return dataclasses.replace(table, read=read, base=base, identity=identity)


_Located = tuple[tuple[str, ...], str, tuple[tuple[str, int, int], ...]]


def _locate(table: RiskTable, roots: Collection[str]) -> _Located:
    """The files Spark is to read for ``table``, each under a root the operator allows
    (``PIIVAULT_EXTRACT_TABLE_ROOTS``); raises InvalidSpec naming ``table.path`` otherwise.

    Otherwise an analyst could have the vault's Spark read any file the vault
    may read. A local table is checked as Spark would read it: its glob
    expanded, and every directory and file under each match walked. Tables
    under the roots are real files and directories: a symbolic link met by the
    glob or the walk is refused, not followed (a link inside a root may point
    outside it, and one added after the check would be followed by Spark's own
    listing), and so is a name holding a glob character (Hadoop globs what it is
    given again: a directory named ``x*`` would reach its siblings). Spark then
    reads the list of files the check found, so it lists no directory of its
    own. A cluster's URI (no glob) must lie under a root of the same scheme and
    host. Also the partition directory (a path naming one directory, no glob) and
    the identity of every directory and file met, from the root down.
    """
    from anonymize.extract.errors import InvalidSpec

    def refuse(why: str) -> InvalidSpec:
        return InvalidSpec({"table.path": why})

    problem = _path_problem(table.path)
    if problem is not None:
        raise refuse(problem)
    outside = "is not under a table root this vault may read (PIIVAULT_EXTRACT_TABLE_ROOTS)"
    scheme, sep, rest = table.path.partition("://")
    if sep and scheme != "file":
        path = f"{scheme}://{posixpath.normpath(rest)}"
        if not any(path.startswith(base) for base in map(_remote_root, roots) if base is not None):
            raise refuse(outside)
        return (table.path,), "", ()
    local_roots = [base for base in map(_local_root, roots) if base is not None]
    local = rest if sep else table.path
    globbed = any(ch in local for ch in _GLOB)
    matches = sorted(glob.glob(local)) if globbed else [local]
    if not matches:
        raise refuse("matches no file")
    if globbed and any(os.path.islink(match) for match in matches):
        raise refuse(_LINK)
    resolved = [os.path.realpath(match) for match in matches]
    # Under the roots before anything is walked: a path outside learns nothing of what it holds.
    for found in resolved:
        if not any(found == root or found.startswith(root + "/") for root in local_roots):
            raise refuse(outside)
    files, identity = _files(resolved)
    for found in files:
        if not any(found.startswith(root + "/") for root in local_roots):
            raise refuse(outside)
    if not files:
        raise refuse("holds no file")
    identity += _ancestors(resolved, local_roots)
    # One directory named without a glob: its sub-directories' key=value names are columns.
    base = resolved[0] if not globbed and os.path.isdir(resolved[0]) else ""
    scheme_of = (lambda f: "file://" + f) if sep else (lambda f: f)
    return tuple(map(scheme_of, files)), scheme_of(base) if base else "", tuple(identity)


# Never in a name the check finds: Hadoop would glob it again (or read an escape), reading other files.
_NAMED = _UNREAD + _GLOB + "]"
_LINK = "holds a symbolic link: a table under the roots must be real files and directories"
_HIDDEN = (".", "_")  # names Spark's and pyarrow's listings skip (_SUCCESS, .crc): not read


def _files(paths: list[str]) -> tuple[list[str], list[tuple[str, int, int]]]:
    """The files Spark is to read from ``paths`` (links resolved): each path that is a file, and
    under a directory every file, hidden names skipped; and the identity of each path met. Raises
    InvalidSpec on a symbolic link or a glob character in a name met, and past MAX_FILES entries."""
    from anonymize.extract.errors import InvalidSpec

    def refuse(why: str) -> InvalidSpec:
        return InvalidSpec({"table.path": why})

    files: list[str] = []
    identity: list[tuple[str, int, int]] = []
    pending, walked = list(dict.fromkeys(paths)), 0
    while pending:
        path = pending.pop()
        walked += 1
        if walked > MAX_FILES:
            raise refuse(f"holds more than {MAX_FILES} files and directories")
        if any(ch in path for ch in _NAMED):
            raise refuse("holds a name with '*', '?', '[', ']', '{', '}', '\\' or '%' (Spark would glob it)")
        identity.append(_identity(path))
        if not os.path.isdir(path):
            files.append(path)
            continue
        try:
            entries = [e for e in os.scandir(path) if not e.name.startswith(_HIDDEN)]
        except OSError:
            continue  # unreadable: Spark cannot read it either
        if any(e.is_symlink() for e in entries):  # lstat: the link itself, never its target
            raise refuse(_LINK)
        pending += [e.path for e in entries]
    return sorted(files), identity


def _identity(path: str) -> tuple[str, int, int]:
    """``path``'s device and inode, of the name itself (a link's own, never its target's)."""
    try:
        found = os.lstat(path)
    except OSError:
        return path, -1, -1  # gone or unreadable: Spark cannot read it either; it must stay so
    return path, found.st_dev, found.st_ino


def _ancestors(paths: list[str], roots: list[str]) -> list[tuple[str, int, int]]:
    """The identity of every directory between a root and each of ``paths`` (the root's own too):
    a parent swapped for a link moves what lies under it as surely as the path itself."""
    seen: dict[str, tuple[str, int, int]] = {}
    for path in paths:
        root = max((r for r in roots if path == r or path.startswith(r + "/")), key=len)
        parent = os.path.dirname(path)
        while parent != path and (parent == root or parent.startswith(root + "/")):
            seen.setdefault(parent, _identity(parent))
            path, parent = parent, os.path.dirname(parent)
    return list(seen.values())


CHANGED = (
    "changed between its check and Spark's read (a file or directory was replaced, moved or"
    " made a symbolic link): nothing was released"
)


def verify_unchanged(table: RiskTable) -> None:
    """Every directory and file :func:`checked` met is still the one it met, and no link.

    Called after Spark has read the table and before anything is released: a
    directory swapped for a symbolic link between the check and the read (to
    reach files outside the roots) has another inode, as has a file replaced.
    Detection, not prevention: the job fails and nothing is released. Raises
    InvalidSpec naming ``table.path``.
    """
    from anonymize.extract.errors import InvalidSpec

    for path, device, inode in table.identity:
        if _identity(path) != (path, device, inode):
            raise InvalidSpec({"table.path": CHANGED})


def _local_root(root: str) -> str | None:
    """A root on the local file system, its links resolved; None for a cluster's root."""
    scheme, sep, rest = root.strip().partition("://")
    if sep and scheme != "file":
        return None
    return os.path.realpath(rest if sep else root.strip()).rstrip("/") or "/"


def _remote_root(root: str) -> str | None:
    """A cluster's root, normalized, ending in '/' (so /risk does not allow /riskier); None for a
    local root."""
    scheme, sep, rest = root.strip().partition("://")
    if not sep or scheme == "file":
        return None
    return f"{scheme}://{posixpath.normpath(rest)}".rstrip("/") + "/"


def check_schema(table: RiskTable, columns: Iterable[Any]) -> None:
    """A local table must exist and hold the key and every column read (read from its schema only),
    each of a primitive type (:func:`nested`).

    ``table.read`` are the files :func:`check_location` found. Remote tables
    (URIs) are checked when the job reads them. Raises InvalidSpec naming
    ``table.path``, ``table.key`` or the column's ``source``.
    """
    from anonymize.extract.errors import InvalidSpec

    if not is_local(table):
        return
    schema = _dataset(table).schema
    problems = c.Problems()
    names = set(schema.names)
    if table.key not in names:
        problems.add("table.key", "no such column in the table")
    for col in columns:
        name = column_of(col.source)
        if name is not None and name not in names:
            problems.add(f"columns.{col.name}.source", "no such column in the table")
        elif name is not None and not _primitive(schema.field(name).type):
            problems.add(f"columns.{col.name}.source", nested(name))
    if problems:
        raise InvalidSpec(problems)


def nested(column: str) -> str:
    """The rule a column broke by reading the table column ``column`` of a nested type."""
    return (
        f"table column {column} is a list, struct or map: only a string, number, boolean, date or time"
        " may be released from a risk table (the identifier scan reads whole values)"
    )


def _primitive(kind: Any) -> bool:
    """Whether a pyarrow type is one a table column may release (a dictionary: by its values)."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(kind):
        kind = kind.value_type
    checks = (t.is_string, t.is_large_string, t.is_integer, t.is_floating, t.is_decimal, t.is_boolean)
    return any(check(kind) for check in (*checks, t.is_temporal))


def is_local(table: RiskTable) -> bool:
    """Whether the vault's own file system holds the table (a path or file:///path)."""
    return "://" not in table.path or table.path.startswith("file://")


def _dataset(table: RiskTable) -> Any:
    """The local table as a pyarrow dataset of the files :func:`check_location` found (``read``).

    Raises InvalidSpec naming ``table.path`` when it cannot be read.
    """
    import pyarrow.dataset as ds

    from anonymize.extract.errors import InvalidSpec

    paths = [p.removeprefix("file://") for p in table.read] or table.path.removeprefix("file://")
    # As Spark reads it: key=value directory names under ``base`` are columns (grade=A/part-0.parquet).
    partitions = {"partitioning": "hive", "partition_base_dir": table.base.removeprefix("file://")}
    try:
        return ds.dataset(paths, format=table.format, **(partitions if table.base else {}))
    except (OSError, ValueError, TypeError):  # pyarrow's ArrowInvalid is a ValueError
        raise InvalidSpec({"table.path": f"is not a readable {table.format} table"}) from None


def head(table: RiskTable, columns: Sequence[str], rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of ``columns`` of a local table (bounded: never a scan of the table).

    Raises InvalidSpec naming ``table.path`` when it cannot be read.
    """
    from anonymize.extract.errors import InvalidSpec

    try:
        return _dataset(table).head(rows, columns=list(columns)).to_pandas()
    except (OSError, ValueError, TypeError):
        raise InvalidSpec({"table.path": f"is not a readable {table.format} table"}) from None


def describe(table: RiskTable, matched: int, unmatched: int) -> Mapping[str, Any]:
    """The report's account of the join: the table read, how it matched (no path: it may name things)."""
    return {
        "format": table.format,
        "key": table.key,
        "matches": table.matches,
        "rows_joined": matched,
        "eligible_without_row": unmatched,
    }
