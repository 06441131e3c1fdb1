"""Generalization hierarchies of quasi-identifiers, as declared in an extract spec.

Each hierarchy maps a column to leaf codes and a fitted :class:`Domain`
(:meth:`fit`); Mondrian then merges neighbouring leaves. The leaf is the most
precise value an extract may ever release:

========================  ==============================================  ==========================
``type``                  leaves                                          ranges release
========================  ==============================================  ==========================
``age_bands``             integer bands of ``width`` years (default 10)   ``"30-39"``, ``"30-49"``
``birth_year``            year of a date or of the birth date in an       ``"1985"``, ``"1980-1989"``
                          18-digit resident ID (bands of ``width``)
``region``                city (first four digits of the resident ID or   ``"浙江省 3301"``,
                          administrative code; the city an address        ``"浙江省"``, ``"华东"``, ``"*"``
                          names) or province
``gender``                ``男``/``女`` from a resident ID's 17th digit      the gender or ``"*"``
``income_bands``          monthly income between ``edges`` (yuan)        ``"[5000, 10000)"``
``intervals``             bands of ``width`` from ``origin``, or between  ``"[0.2, 0.4)"``; ``"3-5"``
                          ``edges``; ``integer: true`` for inclusive      with ``integer``
                          integer bands
``categories``            values, grouped by ``mapping`` (category ->     the value, its category,
                          values); others under ``other``                 ``"*"``
``suppress``              values                                          the value or ``"*"``
========================  ==============================================  ==========================

``region`` and ``categories`` take ``release``: ``children`` (default) releases
the children of a class's lowest common ancestor that its range spans
(``"浙江省/江苏省"``, readable, hierarchy-aligned); ``values`` releases the set of
leaves its rows actually hold (``"江苏省 3201/浙江省 3302"``: less information
loss, as anonypy's Mondrian releases, but long labels at city level). See
:class:`~anonymize.extract.domain.TreeDomain`.

A value that a hierarchy cannot place (missing, not a number, an unknown
province code, an unmapped category when ``other`` is null) gets code -1:
its row is suppressed and counts against the spec's suppression budget.

This module names them for the spec (:data:`HIERARCHIES`, the options each type
takes in :data:`HIERARCHY_KEYS`, :func:`parse_hierarchy`); the interface is
:mod:`anonymize.extract.hierarchy`'s, the numeric types are in
:mod:`anonymize.extract.bands` and the categorical ones in :mod:`anonymize.extract.trees`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anonymize.extract import _checks as c
from anonymize.extract.bands import AgeBands, BirthYear, IncomeBands, Intervals
from anonymize.extract.hierarchy import Hierarchy
from anonymize.extract.trees import Categories, Gender, Region, Suppress

HIERARCHIES: dict[str, type[Hierarchy]] = {
    h.type: h for h in (AgeBands, BirthYear, Region, Gender, IncomeBands, Intervals, Categories, Suppress)
}
HIERARCHY_KEYS: dict[str, frozenset[str]] = {
    "age_bands": frozenset({"width"}),
    "birth_year": frozenset({"width"}),
    "region": frozenset({"source", "level", "release"}),
    "gender": frozenset(),
    "income_bands": frozenset({"edges"}),
    "intervals": frozenset({"width", "origin", "edges", "integer"}),
    "categories": frozenset({"mapping", "other", "release"}),
    "suppress": frozenset(),
}


def parse_hierarchy(raw: Any, path: str, problems: c.Problems) -> Hierarchy | None:
    """A hierarchy from its spec mapping; problems are recorded under ``path``."""
    if not isinstance(raw, Mapping):
        problems.add(path, "must be a mapping with a type")
        return None
    if "type" not in raw:
        problems.add(c.join(path, "type"), "is required")
        return None
    kind = c.choice(raw["type"], c.join(path, "type"), problems, tuple(HIERARCHIES))
    if kind is None:
        return None
    checked = c.mapping(raw, path, problems, allowed=HIERARCHY_KEYS[kind] | {"type"})
    if checked is None:
        return None
    return HIERARCHIES[kind].parse(checked, path, problems)  # type: ignore[attr-defined, no-any-return]
