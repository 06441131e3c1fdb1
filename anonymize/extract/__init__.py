"""Anonymized, consent-filtered extracts for risk scoring.

An analyst's spec (:func:`load_spec`) names the purpose, each column's role
and the privacy model; :func:`run_extract` takes the population the consent
service allows for that purpose, the rows of those subjects, and writes a
table in which direct identifiers are dropped or replaced by extract-scoped
pseudonyms and quasi-identifiers are generalized (strict Mondrian, LeFevre
et al. 2006) until every equivalence class holds at least ``k`` rows and ``l``
distinct values of each sensitive column, with outliers suppressed within the
budget. A report gives the privacy achieved, the re-identification risk and
the information loss; a manifest for the audit log hashes the spec and every
file written.

    >>> spec = load_spec("risk.yaml")
    >>> result = run_extract(spec, rows_provider, population, "out/")
    >>> result.report["measures"]["k"], result.manifest["outputs"]["extract.csv"]["sha256"]

Flask-free; pseudonyms come from a :class:`vault.DataKey` made for the extract
(``result.key``), never from crypto primitives here.

Extracts of the vault itself run as jobs of :mod:`anonymize.extract.service`:
the population decided in bulk by consent's rules and the rows read from the
vault (:mod:`anonymize.extract.source`), risk attributes stored sealed
(:mod:`privacy.attributes`), the re-identification mapping sealed
under the extract's key (:mod:`anonymize.extract.reidentification`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anonymize.extract.bands import AgeBands, BirthYear, IncomeBands, Intervals
    from anonymize.extract.domain import Release
    from anonymize.extract.errors import (
        ExtractCheckFailed,
        InvalidPseudonym,
        InvalidRows,
        InvalidSpec,
        PrivacyModelUnsatisfiable,
        SuppressionBudgetExceeded,
    )
    from anonymize.extract.hierarchy import Hierarchy
    from anonymize.extract.metrics import Measures
    from anonymize.extract.population import Population, PopulationProvider
    from anonymize.extract.pseudonyms import extract_key, pseudonym, reidentify
    from anonymize.extract.runner import ExtractResult, Progress, RowsProvider, run_extract
    from anonymize.extract.spec import (
        Coding,
        Column,
        ExtractSpec,
        IdentifierAction,
        PrivacyModel,
        Role,
    )
    from anonymize.extract.spec_parser import load_spec, loads_spec, parse_spec
    from anonymize.extract.trees import Categories, Gender, Region, Suppress

# Imported when first used (PEP 562): the numeric modules load numpy, pandas, pyarrow and
# matplotlib, which commands that only build the extract service never need.
_WHERE = {
    "Release": "anonymize.extract.domain",
    "ExtractCheckFailed": "anonymize.extract.errors",
    "InvalidPseudonym": "anonymize.extract.errors",
    "InvalidRows": "anonymize.extract.errors",
    "InvalidSpec": "anonymize.extract.errors",
    "PrivacyModelUnsatisfiable": "anonymize.extract.errors",
    "SuppressionBudgetExceeded": "anonymize.extract.errors",
    "AgeBands": "anonymize.extract.bands",
    "BirthYear": "anonymize.extract.bands",
    "Categories": "anonymize.extract.trees",
    "Gender": "anonymize.extract.trees",
    "Hierarchy": "anonymize.extract.hierarchy",
    "IncomeBands": "anonymize.extract.bands",
    "Intervals": "anonymize.extract.bands",
    "Region": "anonymize.extract.trees",
    "Suppress": "anonymize.extract.trees",
    "Measures": "anonymize.extract.metrics",
    "Population": "anonymize.extract.population",
    "PopulationProvider": "anonymize.extract.population",
    "extract_key": "anonymize.extract.pseudonyms",
    "pseudonym": "anonymize.extract.pseudonyms",
    "reidentify": "anonymize.extract.pseudonyms",
    "ExtractResult": "anonymize.extract.runner",
    "Progress": "anonymize.extract.runner",
    "RowsProvider": "anonymize.extract.runner",
    "run_extract": "anonymize.extract.runner",
    "Coding": "anonymize.extract.spec",
    "Column": "anonymize.extract.spec",
    "ExtractSpec": "anonymize.extract.spec",
    "IdentifierAction": "anonymize.extract.spec",
    "PrivacyModel": "anonymize.extract.spec",
    "Role": "anonymize.extract.spec",
    "load_spec": "anonymize.extract.spec_parser",
    "loads_spec": "anonymize.extract.spec_parser",
    "parse_spec": "anonymize.extract.spec_parser",
}

__all__ = [
    "AgeBands",
    "BirthYear",
    "Categories",
    "Coding",
    "Column",
    "ExtractCheckFailed",
    "ExtractResult",
    "ExtractSpec",
    "Gender",
    "Hierarchy",
    "IdentifierAction",
    "IncomeBands",
    "Intervals",
    "InvalidPseudonym",
    "InvalidRows",
    "InvalidSpec",
    "Measures",
    "Population",
    "PopulationProvider",
    "PrivacyModel",
    "PrivacyModelUnsatisfiable",
    "Progress",
    "Region",
    "Release",
    "Role",
    "RowsProvider",
    "Suppress",
    "SuppressionBudgetExceeded",
    "extract_key",
    "load_spec",
    "loads_spec",
    "parse_spec",
    "pseudonym",
    "reidentify",
    "run_extract",
]


def __getattr__(name: str) -> Any:
    try:
        module = _WHERE[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
