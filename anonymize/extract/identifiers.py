"""Direct identifiers in an extract: the one rule every column obeys, a risk table's columns included.

A field type marked ``identifying`` (name, resident ID, mobile, ...) is never
released as it is: only as an extract-scoped pseudonym (role ``identifier``,
action ``pseudonym``) or through a hierarchy that reduces it to a coarse fact
(a resident ID's region, birth year or gender; an address's province or
city). :func:`release` says how a column releases one, :func:`rule` the rule
a column broke.

The vault knows what a column of its own holds (its source is the field
type); a bank's risk table's column (``source: table.<column>``) says
nothing. :func:`table_problems` asks the inventory's column scanner
(:func:`anonymize.scan.scan_columns`) what a bounded sample of each table
column released holds, and a text column's name too (the scanner's header
words: ``mobile``, ``id_no``, ``card_no``, 地址): a column found to hold an
identifying type is held to the same rule. A table column is never an
identifier (the bank's own ids stay in the bank), so of the rule's two ways
only a reducing hierarchy is left to it. A type the detector knows and the
vault does not configure (a landline, an IBAN) counts as identifying: fail
closed. The sample's values are scanned in memory and never kept, logged or
named in a problem.

The scan is held against the ways around it an analyst could try. A value
is searched, not only matched whole (``x13912345678`` and a list written out
as text hold a mobile); a column of lists, structs or maps is refused outright
(only strings, numbers, booleans, dates and times leave a table:
:func:`anonymize.extract.table.nested`); and a column holding the vault's
tokens or subject ids, or equal to the table's join key in most sampled rows
(a copy of the key under another name), is identifying too: it links rows
back to the bank's customers.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from anonymize.extract._checks import Problems
from anonymize.extract.bands import BirthYear
from anonymize.extract.spec import Column, Role
from anonymize.extract.table import column_of, nested
from anonymize.extract.trees import Gender, Region
from anonymize.scan import DEFAULT_SAMPLE, HEADER_HINTS, header_says, scan_columns
from fieldtypes import FieldTypeRegistry
from tokenization.tokens import TOKEN_SHAPE

SAMPLE_ROWS = DEFAULT_SAMPLE  # the rows of a risk table scanned, at most
VAULT_REF = "vault_token"  # what a column holding the vault's tokens or subject ids is found to hold
JOIN_KEY = "join_key"  # what a column equal to the table's join key is found to hold
KEY_SHARE = 0.5  # a column equal to the join key in more than this share of sampled rows is a copy
# A cell a released table column may hold: no list, dict or array (the scan reads whole values).
_PRIMITIVE = (str, int, float, bool, decimal.Decimal, dt.date, dt.time, dt.timedelta, np.generic)

# One instance of each hierarchy that reduces a direct identifier, for naming them in the rule.
_REDUCING = (
    (Region(), "region"),
    (Region(source="address"), "region with source address"),
    (BirthYear(), "birth_year"),
    (Gender(), "gender"),
)


def release(col: Column, field_type: str | None = None) -> str | None:
    """How ``col`` releases a direct identifier of ``field_type`` (default: its source), or None if
    it would release the value.

    Dropped, a pseudonym, or a hierarchy that reduces the field type (``region (city)``).
    """
    field_type = field_type or col.source
    if col.role is Role.IDENTIFIER:
        return "dropped" if not col.released else "pseudonym"
    if col.role is Role.QUASI and col.hierarchy is not None and col.hierarchy.reduces(field_type):
        detail = col.hierarchy.to_dict()
        level = detail.get("level") or (f"width {detail['width']}" if "width" in detail else "")
        return f"{col.hierarchy.type} ({level})" if level else col.hierarchy.type
    return None


def _reducing(field_type: str) -> str:
    """The hierarchies that reduce ``field_type``, named, or ''."""
    return ", ".join(name for hierarchy, name in _REDUCING if hierarchy.reduces(field_type))


def rule(field_type: str) -> str:
    """The rule a column broke by releasing the direct identifier ``field_type``."""
    ways = "as a pseudonym (role identifier, action pseudonym)"
    if reducing := _reducing(field_type):
        ways += f" or generalized by a hierarchy that cannot give it back ({reducing})"
    return f"field type {field_type} is a direct identifier: an extract may release it only {ways}"


def table_rule(column: str, field_type: str, found: str) -> str:
    """The rule a column broke by releasing the table column ``column``, found (``found``) to hold
    the direct identifier ``field_type``."""
    if field_type in (VAULT_REF, JOIN_KEY):
        what = "the vault's tokens or subject ids" if field_type == VAULT_REF else "a copy of the join key"
        return (
            f"table column {column} holds {what} ({found}), which link rows back to the bank's"
            " customers: an extract may not release it"
        )
    head = f"table column {column} holds field type {field_type} ({found}), a direct identifier"
    if reducing := _reducing(field_type):
        return (
            f"{head}: an extract may release it only generalized by a hierarchy that cannot give it"
            f" back ({reducing}); a table column is never a pseudonym"
        )
    return f"{head}: an extract may not release it (a table column is never a pseudonym)"


def identifying(field_type: str, registry: FieldTypeRegistry) -> bool:
    """Whether ``field_type`` is a direct identifier; a type the vault does not configure is one."""
    return field_type not in registry or registry.get(field_type).identifying


def scan_table(
    sample: pd.DataFrame, registry: FieldTypeRegistry, key: str | None = None
) -> dict[str, tuple[str, str]]:
    """The table columns of ``sample`` found to hold a direct identifier: column -> (field type,
    how it was found). By the vault's tokens in the values, by a copy of the join key (``key``, a
    column of ``sample``), by the values (the scanner's verdict, searched within each value), else
    by a text column's name."""
    names = [str(name) for name in sample.columns]
    cells = sample.astype(object)
    cells = cells.where(cells.notna(), None)  # missing: not sampled
    rows = cells.itertuples(index=False, name=None)
    found: dict[str, tuple[str, str]] = {}
    for name, report in zip(names, scan_columns(names, rows, within=True), strict=True):
        values = [str(v) for v in cells[name] if v is not None]
        tokens = sum(1 for v in values if TOKEN_SHAPE.search(v))
        copies = _copies(cells, name, key)
        if tokens:  # one is a link to a person
            found[name] = (VAULT_REF, f"{tokens} of {len(values)} sampled values")
        elif copies:
            found[name] = (JOIN_KEY, copies)
        elif report.field_type is not None and identifying(report.field_type, registry):
            found[name] = (report.field_type, f"{report.matched} of {report.sampled} sampled values")
        elif _text(sample[name]):
            # Values the sampler misses (masked, oddly spelled, too few): a column of text whose name
            # says it holds one is taken at its word. A column of numbers is judged by its values.
            said = [t for t in HEADER_HINTS if identifying(t, registry) and header_says(name, t)]
            if said:
                found[name] = (said[0], "its name says so")
    return found


def _copies(cells: pd.DataFrame, name: str, key: str | None) -> str | None:
    """How column ``name`` is found to copy the join key column ``key`` (equal, as text, in more than
    KEY_SHARE of the sampled rows), or None."""
    if key is None or key == name or key not in cells.columns:
        return None
    both = cells[[name, key]].dropna()
    equal = int((both[name].astype(str) == both[key].astype(str)).sum())
    return f"equal to it in {equal} of {len(both)} sampled rows" if equal > KEY_SHARE * len(both) else None


def table_problems(
    sample: pd.DataFrame,
    columns: Iterable[Column],
    registry: FieldTypeRegistry,
    problems: Problems,
    key: str | None = None,
) -> None:
    """Record, under ``columns.<name>``, each released column that reads a table column of
    ``sample`` (a bounded sample, one column per table column; ``key``, the join key's column, if
    it holds it) found to hold a direct identifier and does not reduce it; under
    ``columns.<name>.source``, each that reads a list, struct or map."""
    found = scan_table(sample, registry, key)
    for col in columns:
        name = column_of(col.source)
        if name is None or name not in sample.columns or not col.released:
            continue
        if not all(isinstance(v, _PRIMITIVE) for v in sample[name].dropna()):
            problems.add(f"columns.{col.name}.source", nested(name))
        elif name in found and release(col, found[name][0]) is None:
            problems.add(f"columns.{col.name}", table_rule(name, *found[name]))


def bounded(frame: pd.DataFrame, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame``, drawn at random (the scanner's cost is per cell)."""
    return frame if len(frame) <= rows else frame.sample(n=rows)


def _text(values: Any) -> bool:
    """Whether a column holds text (not numbers, booleans or timestamps)."""
    types = pd.api.types
    return not (
        types.is_numeric_dtype(values) or types.is_bool_dtype(values) or types.is_datetime64_any_dtype(values)
    )
