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
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from anonymize.extract._checks import Problems
from anonymize.extract.hierarchies import BirthYear, Gender, Region
from anonymize.extract.spec import Column, Role
from anonymize.extract.table import column_of
from anonymize.scan import DEFAULT_SAMPLE, HEADER_HINTS, header_says, scan_columns
from tokenization.fieldtypes import FieldTypeRegistry

SAMPLE_ROWS = DEFAULT_SAMPLE  # the rows of a risk table scanned, at most

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


def scan_table(sample: pd.DataFrame, registry: FieldTypeRegistry) -> dict[str, tuple[str, str]]:
    """The table columns of ``sample`` found to hold a direct identifier: column -> (field type,
    how it was found). By the values (the scanner's verdict), else by a text column's name."""
    names = [str(name) for name in sample.columns]
    cells = sample.astype(object)
    rows = cells.where(cells.notna(), None).itertuples(index=False, name=None)  # missing: not sampled
    found: dict[str, tuple[str, str]] = {}
    for name, report in zip(names, scan_columns(names, rows), strict=True):
        if report.field_type is not None and identifying(report.field_type, registry):
            found[name] = (report.field_type, f"{report.matched} of {report.sampled} sampled values")
        elif _text(sample[name]):
            # Values the sampler misses (masked, oddly spelled, too few): a column of text whose name
            # says it holds one is taken at its word. A column of numbers is judged by its values.
            said = [t for t in HEADER_HINTS if identifying(t, registry) and header_says(name, t)]
            if said:
                found[name] = (said[0], "its name says so")
    return found


def table_problems(
    sample: pd.DataFrame, columns: Iterable[Column], registry: FieldTypeRegistry, problems: Problems
) -> None:
    """Record, under ``columns.<name>``, each released column that reads a table column of
    ``sample`` (a bounded sample, one column per table column) found to hold a direct identifier
    and does not reduce it."""
    found = scan_table(sample, registry)
    for col in columns:
        name = column_of(col.source)
        if name is None or name not in found or not col.released:
            continue
        field_type, how = found[name]
        if release(col, field_type) is None:
            problems.add(f"columns.{col.name}", table_rule(name, field_type, how))


def bounded(frame: pd.DataFrame, rows: int = SAMPLE_ROWS) -> pd.DataFrame:
    """At most ``rows`` rows of ``frame``, drawn at random (the scanner's cost is per cell)."""
    return frame if len(frame) <= rows else frame.sample(n=rows)


def _text(values: Any) -> bool:
    """Whether a column holds text (not numbers, booleans or timestamps)."""
    types = pd.api.types
    return not (
        types.is_numeric_dtype(values) or types.is_bool_dtype(values) or types.is_datetime64_any_dtype(values)
    )
